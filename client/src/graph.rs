//! State machine graphs as Mermaid or Graphviz DOT text: every state a node (shaped by
//! type), Parallel branches and Map bodies as subgraphs, Choice rules and Catch edges
//! labelled, and, given an execution's history, each state coloured by what happened to
//! it: running blue, succeeded green, failed red, caught or aborted orange, not reached
//! grey.

use std::collections::HashMap;

use serde_json::Value;
use stepwise_proto::v1::HistoryEvent;

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
    let value: Value =
        serde_json::from_str(definition).map_err(|e| format!("the definition is not JSON: {e}"))?;
    let mut graph = Graph::default();
    graph.branch(&value, 0);
    Ok(match format {
        Format::Mermaid => graph.mermaid(status),
        Format::Dot => graph.dot(status),
    })
}

#[derive(Default)]
struct Graph {
    nodes: Vec<(String, String, usize)>,
    edges: Vec<(String, String, String)>,
    groups: Vec<(String, usize, usize)>,
    ends: Vec<String>,
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

fn escape(text: &str) -> String {
    text.replace('"', "'")
}

impl Graph {
    fn branch(&mut self, branch: &Value, depth: usize) {
        let Some(states) = branch.get("States").and_then(Value::as_object) else {
            return;
        };
        for (name, state) in states {
            let kind = state
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            self.nodes.push((name.clone(), kind.clone(), depth));
            if let Some(next) = state.get("Next").and_then(Value::as_str) {
                self.edges
                    .push((name.clone(), next.to_string(), String::new()));
            }
            if state.get("End") == Some(&Value::Bool(true)) || kind == "Succeed" || kind == "Fail" {
                self.ends.push(name.clone());
            }
            if let Some(choices) = state.get("Choices").and_then(Value::as_array) {
                for (i, rule) in choices.iter().enumerate() {
                    if let Some(next) = rule.get("Next").and_then(Value::as_str) {
                        self.edges.push((
                            name.clone(),
                            next.to_string(),
                            format!("rule {}", i + 1),
                        ));
                    }
                }
                if let Some(default) = state.get("Default").and_then(Value::as_str) {
                    self.edges
                        .push((name.clone(), default.to_string(), "default".into()));
                }
            }
            if let Some(catchers) = state.get("Catch").and_then(Value::as_array) {
                for catcher in catchers {
                    let errors: Vec<&str> = catcher
                        .get("ErrorEquals")
                        .and_then(Value::as_array)
                        .map(|e| e.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    if let Some(next) = catcher.get("Next").and_then(Value::as_str) {
                        self.edges.push((
                            name.clone(),
                            next.to_string(),
                            format!("catch {}", errors.join(", ")),
                        ));
                    }
                }
            }
            let nested: Vec<&Value> = match kind.as_str() {
                "Parallel" => state
                    .get("Branches")
                    .and_then(Value::as_array)
                    .map(|b| b.iter().collect())
                    .unwrap_or_default(),
                "Map" => state
                    .get("ItemProcessor")
                    .or_else(|| state.get("Iterator"))
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            };
            for (i, inner) in nested.into_iter().enumerate() {
                let first = self.nodes.len();
                self.branch(inner, depth + 1);
                self.groups.push((
                    format!(
                        "{name} {}",
                        if kind == "Map" {
                            "items".to_string()
                        } else {
                            format!("branch {}", i + 1)
                        }
                    ),
                    first,
                    self.nodes.len(),
                ));
                if let Some(start) = inner.get("StartAt").and_then(Value::as_str) {
                    self.edges.push((
                        name.clone(),
                        start.to_string(),
                        if kind == "Map" {
                            "each item".into()
                        } else {
                            String::new()
                        },
                    ));
                }
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
                    Self::shape(kind, &format!("{} ({kind})", escape(name)))
                ));
            }
        }
        for (g, (label, first, end)) in self.groups.iter().enumerate() {
            out.push_str(&format!("    subgraph g{g} [\"{}\"]\n", escape(label)));
            for ((name, kind, _), group) in
                self.nodes[*first..*end].iter().zip(&in_group[*first..*end])
            {
                if *group == Some(g) {
                    out.push_str(&format!(
                        "        {}{}\n",
                        id(name),
                        Self::shape(kind, &format!("{} ({kind})", escape(name)))
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
                    escape(label),
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
                escape(label)
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
            let shape = match kind.as_str() {
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
                escape(name)
            ));
        }
        for (from, to, label) in &self.edges {
            out.push_str(&format!(
                "    {} -> {} [label=\"{}\"];\n",
                id(from),
                id(to),
                escape(label)
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
