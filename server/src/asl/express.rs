//! What an EXPRESS state machine may not use. AWS runs Express workflows at most five
//! minutes and request-response only, so it rejects activities and the `.sync` and
//! `.waitForTaskToken` integration patterns ("Express Workflows do not support ... the
//! .waitForTaskToken or .sync integration pattern"; activities likewise). The check runs
//! at create and update, on an already valid definition.

use super::definition::{Branch, StateKind, StateMachine};
use super::states::{IntegrationPattern, Target};
use super::template::pointer_escape;
use super::validate::{Code, Diagnostic, Severity};

/// Every Task in `machine` that an EXPRESS state machine cannot run, at its location.
pub fn express_problems(machine: &StateMachine) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    check(&machine.root, "", &mut problems);
    problems
}

fn check(branch: &Branch, at: &str, problems: &mut Vec<Diagnostic>) {
    for (name, state) in &branch.states {
        let here = format!("{at}/States/{}", pointer_escape(name));
        match &state.kind {
            StateKind::Task(task) => {
                let reason = match (&task.resource.target, task.resource.pattern) {
                    (Target::Activity { .. }, _) => Some("activities"),
                    (_, IntegrationPattern::Sync) => Some("the .sync integration pattern"),
                    (_, IntegrationPattern::WaitForTaskToken) => {
                        Some("the .waitForTaskToken integration pattern")
                    }
                    _ => None,
                };
                if let Some(reason) = reason {
                    problems.push(Diagnostic {
                        severity: Severity::Error,
                        code: Code::InvalidResource,
                        location: format!("{here}/Resource"),
                        message: format!(
                            "state '{name}' uses {reason} ({}), which EXPRESS state machines cannot run; use a STANDARD state machine or a request-response resource",
                            task.resource.arn
                        ),
                    });
                }
            }
            StateKind::Parallel(parallel) => {
                for (i, nested) in parallel.branches.iter().enumerate() {
                    check(nested, &format!("{here}/Branches/{i}"), problems);
                }
            }
            StateKind::Map(map) => {
                check(&map.processor, &format!("{here}/ItemProcessor"), problems)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::validate::parse;
    use serde_json::json;

    #[test]
    fn activities_sync_and_callbacks_are_named_with_their_state() {
        let definition = json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "Act", "States": {"Act": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:1:activity:approve", "End": true}}},
                {"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "Cb", "States": {
                    "Cb": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "Next": "Job"},
                    "Job": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "Next": "Fine"},
                    "Fine": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"}, "End": true}
                }}}}}
            ]}
        }});
        let machine = parse(&definition.to_string()).unwrap().machine;
        let problems = express_problems(&machine);
        let found: Vec<(&str, &str)> = problems
            .iter()
            .map(|d| (d.location.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(found[0].0, "/States/P/Branches/0/States/Act/Resource");
        assert!(found[0].1.contains("state 'Act' uses activities"));
        assert_eq!(
            found[1].0,
            "/States/P/Branches/1/States/M/ItemProcessor/States/Cb/Resource"
        );
        assert!(found[1].1.contains(".waitForTaskToken"));
        assert!(
            found[2]
                .1
                .contains("state 'Job' uses the .sync integration pattern")
        );
    }

    #[test]
    fn seed_examples_can_run_as_express() {
        for name in ["choice-state.asl.json", "test-pipeline.asl.json"] {
            let machine = parse(&crate::examples::text(name)).unwrap().machine;
            assert!(express_problems(&machine).is_empty(), "{name}");
        }
    }
}
