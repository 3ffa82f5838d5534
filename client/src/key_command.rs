//! `stepwise key`: API keys, for admin keys (or anyone, before the server requires keys).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use stepwise_client::Client;
use stepwise_proto::v1 as pb;

use crate::Output;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Make a key and print its secret, this once. From then on the server requires
    /// keys on every call (as it does when started with --admin-credentials).
    Create {
        /// admin (everything), operator (state machines, executions, activities),
        /// worker (poll and complete tasks of its queues) or reader (describe, list,
        /// histories).
        #[arg(long)]
        role: String,
        /// Queues a worker key may work on: name patterns, `*` for any run of characters
        /// (repeatable, or comma-separated).
        #[arg(long, value_delimiter = ',')]
        queues: Vec<String>,
        /// State machines an operator or reader key is limited to: name patterns
        /// (repeatable, or comma-separated; none: every one).
        #[arg(long, value_delimiter = ',')]
        machines: Vec<String>,
        /// What the key is for.
        #[arg(long, default_value = "")]
        description: String,
        /// A key for the AWS-compatible API's Signature V4 (an access key id and secret
        /// for the AWS CLI and SDKs; the server keeps the secret to check signatures).
        #[arg(long)]
        aws: bool,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key: it authenticates nothing from now on.
    Revoke {
        /// The key id (SWK...).
        key_id: String,
    },
}

fn key_json(key: &pb::Key) -> serde_json::Value {
    json!({
        "keyId": key.key_id,
        "role": key.role,
        "patterns": key.patterns,
        "description": key.description,
        "kind": if key.signing { "aws" } else { "bearer" },
        "createdMs": key.created_ms,
        "revokedMs": key.revoked_ms,
    })
}

fn key_line(key: &pb::Key) -> String {
    let state = if key.revoked_ms.is_some() {
        "revoked"
    } else {
        "active"
    };
    let kind = if key.signing { "aws" } else { "bearer" };
    format!(
        "{:<22} {:<9} {:<7} {:<7} {:<30} {}",
        key.key_id,
        key.role,
        kind,
        state,
        key.patterns.join(","),
        key.description
    )
}

/// Runs one `stepwise key` command.
pub async fn run(
    client: &mut Client,
    command: KeyCommand,
    output: Output,
) -> Result<ExitCode, String> {
    let status = |s: tonic::Status| s.message().to_string();
    match command {
        KeyCommand::Create {
            role,
            queues,
            machines,
            description,
            aws,
        } => {
            let patterns = match (role.as_str(), queues.is_empty(), machines.is_empty()) {
                ("worker", _, false) => {
                    return Err("a worker key is limited by --queues, not --machines".into());
                }
                ("worker", _, true) => queues,
                (_, false, _) => {
                    return Err(format!(
                        "--queues is for worker keys; limit a {role} key with --machines"
                    ));
                }
                _ => machines,
            };
            let created = client
                .keys
                .create_key(pb::CreateKeyRequest {
                    role,
                    patterns,
                    description,
                    signing: aws,
                })
                .await
                .map_err(status)?
                .into_inner();
            let key = created.key.unwrap_or_default();
            match output {
                Output::Json => {
                    let mut shown = key_json(&key);
                    shown["secret"] = json!(created.secret);
                    println!("{shown}");
                }
                Output::Text if aws => {
                    println!("created {} ({})", key.key_id, key.role);
                    println!("aws_access_key_id = {}", key.key_id);
                    println!("aws_secret_access_key = {}", created.secret);
                    println!("the secret is shown this once");
                }
                Output::Text => {
                    println!("created {} ({})", key.key_id, key.role);
                    println!("STEPWISE_KEY={}:{}", key.key_id, created.secret);
                    println!("the secret is shown this once");
                }
            }
        }
        KeyCommand::List => {
            let keys = client
                .keys
                .list_keys(pb::ListKeysRequest {})
                .await
                .map_err(status)?
                .into_inner()
                .keys;
            for key in &keys {
                match output {
                    Output::Json => println!("{}", key_json(key)),
                    Output::Text => println!("{}", key_line(key)),
                }
            }
        }
        KeyCommand::Revoke { key_id } => {
            let key = client
                .keys
                .revoke_key(pb::RevokeKeyRequest { key_id })
                .await
                .map_err(status)?
                .into_inner();
            match output {
                Output::Json => println!("{}", key_json(&key)),
                Output::Text => println!("revoked {}", key.key_id),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
