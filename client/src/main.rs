//! `stepwise`: the command-line client.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use stepwise_client::{Client, DEFAULT_ENDPOINT, Severity};

#[derive(Parser)]
#[command(
    name = "stepwise",
    version,
    about = "Command-line client for the Stepwise server"
)]
struct Cli {
    /// The server's gRPC endpoint.
    #[arg(long, global = true, default_value = DEFAULT_ENDPOINT, env = "STEPWISE_ENDPOINT")]
    endpoint: String,
    /// How to print results.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    /// Lines for people.
    Text,
    /// JSON for scripts.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a state machine definition file; exits 1 if it has errors.
    Validate {
        /// The Amazon States Language definition (JSON).
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("stepwise: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Validate { file } => {
            let definition = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let mut client = Client::connect(&cli.endpoint)
                .await
                .map_err(|e| e.to_string())?;
            let validation = client
                .validate(&definition)
                .await
                .map_err(|e| e.to_string())?;
            match cli.output {
                Output::Json => {
                    let diagnostics: Vec<serde_json::Value> = validation
                        .diagnostics
                        .iter()
                        .map(|d| {
                            serde_json::json!({
                                "severity": severity_name(d.severity()),
                                "code": d.code,
                                "location": d.location,
                                "message": d.message,
                            })
                        })
                        .collect();
                    let result = if validation.ok { "OK" } else { "FAIL" };
                    println!(
                        "{}",
                        serde_json::json!({"result": result, "diagnostics": diagnostics})
                    );
                }
                Output::Text => {
                    for d in &validation.diagnostics {
                        let location = if d.location.is_empty() {
                            "/"
                        } else {
                            &d.location
                        };
                        println!(
                            "{}: {} {}: {} [{}]",
                            file.display(),
                            severity_name(d.severity()).to_lowercase(),
                            location,
                            d.message,
                            d.code
                        );
                    }
                    if validation.ok {
                        println!("{}: valid", file.display());
                    }
                }
            }
            Ok(if validation.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Unspecified => "UNSPECIFIED",
    }
}
