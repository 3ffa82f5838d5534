//! Names and ARNs: the rules AWS applies to state machine, execution and activity names,
//! and the ARNs built from them (`arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`, ...).

use super::RuntimeError;

/// AWS: names are 1 to 80 characters.
pub const MAX_NAME_CHARS: usize = 80;

/// Checks a name as AWS does: 1-80 characters, no white space, brackets, wildcards,
/// special characters (`"#%\^|~`$&,;:/`) or control characters.
pub fn check_name(kind: &str, name: &str) -> Result<(), RuntimeError> {
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(RuntimeError::InvalidName(format!(
            "{kind} names must be 1 to {MAX_NAME_CHARS} characters; '{name}' has {count}"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(*c))
    {
        return Err(RuntimeError::InvalidName(format!(
            "{kind} name '{name}' contains '{}', which is not allowed (no white space, brackets, wildcards or any of \"#%\\^|~`$&,;:/)",
            bad.escape_default()
        )));
    }
    Ok(())
}

/// Builds and reads ARNs for one region and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arns {
    /// e.g. `us-east-1`.
    pub region: String,
    /// e.g. `000000000000`.
    pub account_id: String,
}

impl Arns {
    fn prefix(&self) -> String {
        format!("arn:aws:states:{}:{}:", self.region, self.account_id)
    }

    /// `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`.
    pub fn machine(&self, name: &str) -> String {
        format!("{}stateMachine:{name}", self.prefix())
    }

    /// `arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME`.
    pub fn execution(&self, machine: &str, name: &str) -> String {
        format!("{}execution:{machine}:{name}", self.prefix())
    }

    /// `arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:ID`, as AWS names Express
    /// executions (names are not unique, so an id follows).
    pub fn express_execution(&self, machine: &str, name: &str, id: &str) -> String {
        format!("{}express:{machine}:{name}:{id}", self.prefix())
    }

    /// Whether an ARN names an Express execution.
    pub fn is_express(&self, arn: &str) -> bool {
        arn.starts_with(&format!("{}express:", self.prefix()))
    }

    /// `arn:aws:states:REGION:ACCOUNT:activity:NAME`.
    pub fn activity(&self, name: &str) -> String {
        format!("{}activity:{name}", self.prefix())
    }

    /// The state machine name in a name or a state machine ARN.
    pub fn machine_name(&self, name_or_arn: &str) -> Result<String, RuntimeError> {
        self.name_in(name_or_arn, "stateMachine", "state machine")
    }

    /// The activity name in a name or an activity ARN.
    pub fn activity_name(&self, name_or_arn: &str) -> Result<String, RuntimeError> {
        self.name_in(name_or_arn, "activity", "activity")
    }

    fn name_in(
        &self,
        name_or_arn: &str,
        resource: &str,
        kind: &str,
    ) -> Result<String, RuntimeError> {
        if !name_or_arn.starts_with("arn:") {
            return Ok(name_or_arn.to_string());
        }
        name_or_arn
            .strip_prefix(&format!("{}{resource}:", self.prefix()))
            .filter(|name| !name.is_empty() && !name.contains(':'))
            .map(str::to_string)
            .ok_or_else(|| {
                RuntimeError::InvalidArn(format!(
                    "'{name_or_arn}' is not a {kind} ARN of this server (expected {}{resource}:NAME)",
                    self.prefix()
                ))
            })
    }

    /// Checks an execution ARN and returns its state machine name.
    pub fn execution_machine(&self, arn: &str) -> Result<String, RuntimeError> {
        arn.strip_prefix(&format!("{}execution:", self.prefix()))
            .or_else(|| arn.strip_prefix(&format!("{}express:", self.prefix())))
            .and_then(|rest| rest.split_once(':'))
            .filter(|(machine, name)| !machine.is_empty() && !name.is_empty())
            .map(|(machine, _)| machine.to_string())
            .ok_or_else(|| {
                RuntimeError::InvalidArn(format!(
                    "'{arn}' is not an execution ARN of this server (expected {}execution:MACHINE:NAME)",
                    self.prefix()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_rules() {
        assert!(check_name("execution", "run-2026_11.25").is_ok());
        assert!(check_name("execution", &"x".repeat(80)).is_ok());
        for bad in [
            "",
            "has space",
            "semi;colon",
            "slash/",
            "star*",
            "new\nline",
            &"x".repeat(81),
        ] {
            assert!(check_name("execution", bad).is_err(), "{bad:?}");
        }
        let err = check_name("state machine", "a:b").unwrap_err().to_string();
        assert!(err.contains("contains ':'"), "{err}");
    }

    #[test]
    fn arns_round_trip() {
        let arns = Arns {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        };
        assert_eq!(
            arns.machine("M"),
            "arn:aws:states:us-east-1:000000000000:stateMachine:M"
        );
        assert_eq!(arns.machine_name(&arns.machine("M")).unwrap(), "M");
        assert_eq!(arns.machine_name("M").unwrap(), "M");
        assert!(
            arns.machine_name("arn:aws:states:eu-west-1:1:stateMachine:M")
                .is_err()
        );
        assert_eq!(
            arns.execution_machine(&arns.execution("M", "e")).unwrap(),
            "M"
        );
        assert!(
            arns.execution_machine("arn:aws:states:us-east-1:000000000000:execution:M")
                .is_err()
        );
        assert_eq!(arns.activity_name(&arns.activity("work")).unwrap(), "work");
    }
}
