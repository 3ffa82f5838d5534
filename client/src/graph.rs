//! State machine graphs as Mermaid or Graphviz DOT text: every state a node (shaped by
//! type), Parallel branches and Map bodies as subgraphs, Choice rules and Catch edges
//! labelled, and, given an execution's history, each state coloured by what happened to
//! it: running blue, succeeded green, failed red, caught or aborted orange, not reached
//! grey.

use std::collections::HashMap;

use stepwise_proto::v1::HistoryEvent;
use stepwise_server::asl::definition::{Branch, StateKind};
use stepwise_server::asl::transitions;
use stepwise_server::asl::validate::{Severity, parse};

/// The output language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Mermaid `flowchart TD`.
    Mermaid,
    /// Graphviz `digraph`.
    Dot,
}

/// What happened to a state in an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateStatus {
    /// Entered and not yet left.
    Running,
    /// Left normally.
    Succeeded,
    /// Where the execution failed.
    Failed,
    /// Stopped, or left through a Catch.
    Caught,
    /// Never entered.
    NotReached,
}

impl StateStatus {
    fn colour(self) -> &'static str {
        match self {
            StateStatus::Running => "#4a90d9",
            StateStatus::Succeeded => "#5cb85c",
            StateStatus::Failed => "#d9534f",
            StateStatus::Caught => "#f0ad4e",
            StateStatus::NotReached => "#cccccc",
        }
    }
}

/// Each state's status from a history (the last thing that happened to it wins).
pub fn statuses(history: &[HistoryEvent]) -> HashMap<String, StateStatus> {
    let mut status = HashMap::new();
    let mut current: Option<String> = None;
    for event in history {
        let kind = event.r#type.as_str();
        if let Some(name) = &event.name {
            if kind.ends_with("StateEntered") {
                status.insert(name.clone(), StateStatus::Running);
                current = Some(name.clone());
            } else if kind.ends_with("StateExited") {
                let caught = status.get(name) == Some(&StateStatus::Caught);
                status.insert(
                    name.clone(),
                    if caught {
                        StateStatus::Caught
                    } else {
                        StateStatus::Succeeded
                    },
                );
            } else if kind.ends_with("StateAborted") {
                status.insert(name.clone(), StateStatus::Caught);
            } else if kind.ends_with("StateFailed") {
                status.insert(name.clone(), StateStatus::Failed);
            }
        } else if kind.ends_with("Failed") || kind.ends_with("TimedOut") {
            // A task or execution failure belongs to the state last entered.
            if let Some(name) = &current
                && status.get(name) == Some(&StateStatus::Running)
            {
                status.insert(name.clone(), StateStatus::Failed);
            }
        }
    }
    status
}

/// Renders a definition (JSON text). `status` colours the states when given.
pub fn render(
    definition: &str,
    format: Format,
    status: Option<&HashMap<String, StateStatus>>,
) -> Result<String, String> {
    let machine = parse(definition)
        .map_err(|diagnostics| {
            let first = diagnostics
                .iter()
                .find(|d| d.severity == Severity::Error)
                .map_or(String::new(), |d| format!(": {}", d.message));
            format!("the definition is not valid{first}")
        })?
        .machine;
    let mut graph = Graph::default();
    graph.branch(&machine.root, 0);
    Ok(match format {
        Format::Mermaid => graph.mermaid(status),
        Format::Dot => graph.dot(status),
    })
}

/// States, edges and groups in drawing order; edges carry the labels the console shows.
#[derive(Default)]
struct Graph {
    /// (name, type, depth).
    nodes: Vec<(String, &'static str, usize)>,
    /// (from, to, label).
    edges: Vec<(String, String, String)>,
    /// (title, first node, end node): a Parallel branch or a Map's item processor.
    groups: Vec<(String, usize, usize)>,
}

fn id(name: &str) -> String {
    let mut out = String::from("s_");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push_str(&format!("_{:x}_", c as u32));
        }
    }
    out
}

/// Text inside a Mermaid `"..."` label: its quote as an entity, which Mermaid decodes.
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;")
}

/// Text inside a DOT `"..."` string.
fn dot_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Graph {
    fn branch(&mut self, branch: &Branch, depth: usize) {
        for (name, state) in &branch.states {
            self.nodes
                .push((name.clone(), state.kind.type_name(), depth));
            for edge in transitions::edges(state) {
                self.edges.push((
                    name.clone(),
                    edge.to.to_string(),
                    edge.label.unwrap_or_default(),
                ));
            }
            let (nested, each): (Vec<&Branch>, bool) = match &state.kind {
                StateKind::Parallel(parallel) => (parallel.branches.iter().collect(), false),
                StateKind::Map(map) => (vec![&map.processor], true),
                _ => (Vec::new(), false),
            };
            for (i, inner) in nested.into_iter().enumerate() {
                let first = self.nodes.len();
                self.branch(inner, depth + 1);
                let title = if each {
                    format!("{name} items")
                } else {
                    format!("{name} branch {}", i + 1)
                };
                self.groups.push((title, first, self.nodes.len()));
                let label = if each { "each item" } else { "" };
                self.edges
                    .push((name.clone(), inner.start_at.clone(), label.into()));
            }
        }
    }

    fn shape(kind: &str, label: &str) -> String {
        match kind {
            "Choice" => format!("{{\"{label}\"}}"),
            "Succeed" | "Fail" => format!("([\"{label}\"])"),
            "Wait" => format!("[/\"{label}\"/]"),
            "Parallel" | "Map" => format!("[[\"{label}\"]]"),
            _ => format!("[\"{label}\"]"),
        }
    }

    fn mermaid(&self, status: Option<&HashMap<String, StateStatus>>) -> String {
        let mut out = String::from("flowchart TD\n");
        let mut in_group = vec![None; self.nodes.len()];
        for (g, (_, first, end)) in self.groups.iter().enumerate() {
            for slot in in_group.iter_mut().take(*end).skip(*first) {
                slot.get_or_insert(g);
            }
        }
        for (i, (name, kind, _)) in self.nodes.iter().enumerate() {
            if in_group[i].is_none() {
                out.push_str(&format!(
                    "    {}{}\n",
                    id(name),
                    Self::shape(kind, &format!("{} ({kind})", mermaid_text(name)))
                ));
            }
        }
        for (g, (label, first, end)) in self.groups.iter().enumerate() {
            out.push_str(&format!(
                "    subgraph g{g} [\"{}\"]\n",
                mermaid_text(label)
            ));
            for ((name, kind, _), group) in
                self.nodes[*first..*end].iter().zip(&in_group[*first..*end])
            {
                if *group == Some(g) {
                    out.push_str(&format!(
                        "        {}{}\n",
                        id(name),
                        Self::shape(kind, &format!("{} ({kind})", mermaid_text(name)))
                    ));
                }
            }
            out.push_str("    end\n");
        }
        for (from, to, label) in &self.edges {
            if label.is_empty() {
                out.push_str(&format!("    {} --> {}\n", id(from), id(to)));
            } else {
                out.push_str(&format!(
                    "    {} -->|\"{}\"| {}\n",
                    id(from),
                    mermaid_text(label),
                    id(to)
                ));
            }
        }
        if let Some(status) = status {
            for (name, _, _) in &self.nodes {
                let colour = status
                    .get(name)
                    .copied()
                    .unwrap_or(StateStatus::NotReached)
                    .colour();
                out.push_str(&format!("    style {} fill:{colour}\n", id(name)));
            }
        }
        out
    }

    fn dot(&self, status: Option<&HashMap<String, StateStatus>>) -> String {
        let mut out =
            String::from("digraph stepwise {\n    node [style=filled, fillcolor=white];\n");
        let mut grouped = vec![false; self.nodes.len()];
        for (g, (label, first, end)) in self.groups.iter().enumerate() {
            out.push_str(&format!(
                "    subgraph cluster_{g} {{\n        label=\"{}\";\n",
                dot_text(label)
            ));
            for ((name, _, _), seen) in self.nodes[*first..*end]
                .iter()
                .zip(&mut grouped[*first..*end])
            {
                if !*seen {
                    *seen = true;
                    out.push_str(&format!("        {};\n", id(name)));
                }
            }
            out.push_str("    }\n");
        }
        for (name, kind, _) in &self.nodes {
            let shape = match *kind {
                "Choice" => "diamond",
                "Succeed" | "Fail" => "oval",
                "Wait" => "parallelogram",
                "Parallel" | "Map" => "box3d",
                _ => "box",
            };
            let fill = status
                .map(|s| {
                    s.get(name)
                        .copied()
                        .unwrap_or(StateStatus::NotReached)
                        .colour()
                })
                .unwrap_or("white");
            out.push_str(&format!(
                "    {} [label=\"{}\\n({kind})\", shape={shape}, fillcolor=\"{fill}\"];\n",
                id(name),
                dot_text(name)
            ));
        }
        for (from, to, label) in &self.edges {
            out.push_str(&format!(
                "    {} -> {} [label=\"{}\"];\n",
                id(from),
                id(to),
                dot_text(label)
            ));
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &str = include_str!("../../examples/test-pipeline.asl.json");

    #[test]
    fn mermaid_has_every_state_and_branch_subgraphs() {
        let text = render(PIPELINE, Format::Mermaid, None).unwrap();
        assert!(text.starts_with("flowchart TD"));
        for name in [
            "Parallel",
            "End_20_of_20_tests",
            "Unittest_20_accept",
            "Wait_20_4_20_min",
        ] {
            assert!(
                text.contains(&format!("s_{name}")),
                "{name} missing:\n{text}"
            );
        }
        assert_eq!(text.matches("subgraph").count(), 3, "{text}");
        assert!(text.contains("s_Unittest_20_accept --> s_Unittest_20_decrypt"));
    }

    #[test]
    fn dot_colours_states_by_status() {
        let mut status = HashMap::new();
        status.insert("Parallel".to_string(), StateStatus::Running);
        status.insert("Unittest accept".to_string(), StateStatus::Succeeded);
        status.insert("Unittest update_db".to_string(), StateStatus::Failed);
        let text = render(PIPELINE, Format::Dot, Some(&status)).unwrap();
        assert!(
            text.contains(
                "s_Parallel [label=\"Parallel\\n(Parallel)\", shape=box3d, fillcolor=\"#4a90d9\"]"
            ),
            "{text}"
        );
        assert!(text.contains("fillcolor=\"#5cb85c\""));
        assert!(text.contains("fillcolor=\"#d9534f\""));
        assert!(text.contains("s_End_20_of_20_tests [label=\"End of tests\\n(Pass)\", shape=box, fillcolor=\"#cccccc\"]"));
        assert_eq!(text.matches("subgraph cluster_").count(), 3);
    }

    #[test]
    fn choice_and_catch_edges_carry_the_labels_the_console_draws() {
        let definition = r#"{"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "f"}, "Next": "C",
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
            "C": {"Type": "Choice", "Default": "F", "Choices": [
                {"Variable": "$.name", "StringMatches": "log-*", "Next": "S"}]},
            "S": {"Type": "Succeed"},
            "F": {"Type": "Fail"}
        }}"#;
        let mermaid = render(definition, Format::Mermaid, None).unwrap();
        assert!(
            mermaid.contains("s_C -->|\"$.name matches #quot;log-*#quot;\"| s_S"),
            "{mermaid}"
        );
        assert!(mermaid.contains("s_C -->|\"Default\"| s_F"), "{mermaid}");
        assert!(
            mermaid.contains("s_T -->|\"Catch States.ALL\"| s_F"),
            "{mermaid}"
        );
        let dot = render(definition, Format::Dot, None).unwrap();
        assert!(
            dot.contains(r#"s_C -> s_S [label="$.name matches \"log-*\""];"#),
            "{dot}"
        );
    }

    #[test]
    fn an_invalid_definition_is_refused_with_its_first_error() {
        let definition = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Bee"}}}"#;
        let error = render(definition, Format::Mermaid, None).unwrap_err();
        assert!(
            error.starts_with("the definition is not valid: "),
            "{error}"
        );
        assert!(error.contains("'Bee'"), "{error}");
    }

    #[test]
    fn statuses_follow_the_history() {
        let event = |t: &str, name: Option<&str>| HistoryEvent {
            r#type: t.into(),
            name: name.map(str::to_string),
            ..Default::default()
        };
        let history = vec![
            event("ExecutionStarted", None),
            event("PassStateEntered", Some("A")),
            event("PassStateExited", Some("A")),
            event("TaskStateEntered", Some("B")),
            event("LambdaFunctionFailed", None),
            event("ExecutionFailed", None),
        ];
        let status = statuses(&history);
        assert_eq!(status["A"], StateStatus::Succeeded);
        assert_eq!(status["B"], StateStatus::Failed);
    }
}
