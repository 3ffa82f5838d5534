//! Who may do what: a key's role and name patterns, the family of action a call belongs
//! to, and the decision. One rule set for every way in (gRPC, the AWS-compatible API, the
//! console), so a role means the same everywhere.

use super::pattern::Pattern;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, keys included.
    Admin,
    /// State machines, their executions and activities (of the patterns, if any).
    Operator,
    /// Polling, heartbeating and completing tasks of the queues its patterns match.
    Worker,
    /// Describing, listing and reading histories (of the patterns' machines, if any).
    Reader,
}

impl Role {
    /// The role's name, as the CLI and the audit log write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Worker => "worker",
            Role::Reader => "reader",
        }
    }

    /// A role by name.
    pub fn parse(name: &str) -> Option<Role> {
        [Role::Admin, Role::Operator, Role::Worker, Role::Reader]
            .into_iter()
            .find(|role| role.as_str() == name)
    }
}

/// A call, by family, with the name a grant's patterns are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Create, update or delete a state machine, or change its tags.
    ManageMachine(&'a str),
    /// Start or stop an execution of a state machine, or change an execution's tags.
    RunExecution(&'a str),
    /// Describe a state machine or an execution of it, read its history or tags.
    ReadMachine(&'a str),
    /// List state machines, activities or usage, or validate a definition: what is
    /// shown is then limited to what the grant may read (`Grant::may_see`).
    ReadListing,
    /// Read what sums over every state machine (usage of all): only for grants not
    /// limited to some.
    ReadAll,
    /// Create, delete or describe an activity (a queue of tasks).
    ManageActivity(&'a str),
    /// Poll a queue, or heartbeat or complete one of its tasks.
    Work(&'a str),
    /// Create, list or revoke keys.
    ManageKeys,
    /// Calls the nodes of a cluster make to each other.
    Cluster,
}

impl Action<'_> {
    /// The family's name, as audit records and refusals write it.
    pub fn family(&self) -> &'static str {
        match self {
            Action::ManageMachine(_) => "manage state machine",
            Action::RunExecution(_) => "run executions of state machine",
            Action::ReadMachine(_) => "read state machine",
            Action::ReadListing => "list",
            Action::ReadAll => "read what sums over every state machine",
            Action::ManageActivity(_) => "manage activity",
            Action::Work(_) => "work on queue",
            Action::ManageKeys => "manage keys",
            Action::Cluster => "call as a node of the cluster",
        }
    }

    /// The name the action is on, if any.
    pub fn resource(&self) -> Option<&str> {
        match self {
            Action::ManageMachine(name)
            | Action::RunExecution(name)
            | Action::ReadMachine(name)
            | Action::ManageActivity(name)
            | Action::Work(name) => Some(name),
            Action::ReadListing | Action::ReadAll | Action::ManageKeys | Action::Cluster => None,
        }
    }

    /// Whether the action changes something (an audit record is written for each).
    pub fn changes(&self) -> bool {
        !matches!(
            self,
            Action::ReadMachine(_) | Action::ReadListing | Action::ReadAll | Action::Cluster
        )
    }
}

/// What one key may do: its role, limited to names matching its patterns (none: no
/// limit, except for workers, whose patterns name the only queues they may work on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// State machine names (admin, operator, reader) or queue names (worker).
    pub patterns: Vec<Pattern>,
}

impl Grant {
    /// Whether the grant allows `action`.
    pub fn allows(&self, action: Action<'_>) -> bool {
        match (self.role, action) {
            (Role::Admin, _) => true,
            (Role::Operator, Action::ManageMachine(name))
            | (Role::Operator, Action::RunExecution(name))
            | (Role::Operator, Action::ReadMachine(name))
            | (Role::Operator, Action::ManageActivity(name))
            | (Role::Reader, Action::ReadMachine(name)) => self.limited_to(name),
            (Role::Operator | Role::Reader, Action::ReadListing) => true,
            (Role::Operator | Role::Reader, Action::ReadAll) => self.patterns.is_empty(),
            (Role::Worker, Action::Work(queue)) => {
                self.patterns.iter().any(|pattern| pattern.matches(queue))
            }
            _ => false,
        }
    }

    /// Whether a listing shows this state machine (or activity) to the grant.
    pub fn may_see(&self, name: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Operator | Role::Reader => self.limited_to(name),
            Role::Worker => false,
        }
    }

    /// No patterns, or one that matches.
    fn limited_to(&self, name: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: Role, patterns: &[&str]) -> Grant {
        Grant {
            role,
            patterns: patterns.iter().map(|p| Pattern::new(p).unwrap()).collect(),
        }
    }

    /// Every action family, on a name the patterns below match and on one they do not.
    fn actions<'a>(name: &'a str) -> Vec<(&'static str, Action<'a>)> {
        vec![
            ("manage machine", Action::ManageMachine(name)),
            ("run execution", Action::RunExecution(name)),
            ("read machine", Action::ReadMachine(name)),
            ("manage activity", Action::ManageActivity(name)),
            ("work", Action::Work(name)),
        ]
    }

    #[test]
    fn each_role_against_each_action_family_on_matching_and_other_names() {
        // (role, patterns, families allowed on a matching name; on another name).
        type Case = (
            Role,
            Vec<&'static str>,
            Vec<&'static str>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                Role::Admin,
                vec![],
                vec![
                    "manage machine",
                    "run execution",
                    "read machine",
                    "manage activity",
                    "work",
                ],
                vec![
                    "manage machine",
                    "run execution",
                    "read machine",
                    "manage activity",
                    "work",
                ],
            ),
            (
                Role::Operator,
                vec!["tests-*"],
                vec![
                    "manage machine",
                    "run execution",
                    "read machine",
                    "manage activity",
                ],
                vec![],
            ),
            (
                Role::Operator,
                vec![],
                vec![
                    "manage machine",
                    "run execution",
                    "read machine",
                    "manage activity",
                ],
                vec![
                    "manage machine",
                    "run execution",
                    "read machine",
                    "manage activity",
                ],
            ),
            (Role::Worker, vec!["tests-*"], vec!["work"], vec![]),
            (Role::Worker, vec![], vec![], vec![]),
            (Role::Reader, vec!["tests-*"], vec!["read machine"], vec![]),
            (
                Role::Reader,
                vec![],
                vec!["read machine"],
                vec!["read machine"],
            ),
        ];
        for (role, patterns, on_match, on_other) in cases {
            let grant = grant(role, &patterns);
            for (name, expected) in [("tests-unit", &on_match), ("billing", &on_other)] {
                for (family, action) in actions(name) {
                    assert_eq!(
                        grant.allows(action),
                        expected.contains(&family),
                        "{role:?} with {patterns:?}: {family} on {name}"
                    );
                }
            }
            assert_eq!(
                grant.allows(Action::ManageKeys),
                role == Role::Admin,
                "{role:?}: keys"
            );
            assert_eq!(
                grant.allows(Action::Cluster),
                role == Role::Admin,
                "{role:?}: cluster"
            );
            assert_eq!(
                grant.allows(Action::ReadListing),
                role != Role::Worker,
                "{role:?}: listings"
            );
            assert_eq!(
                grant.allows(Action::ReadAll),
                role == Role::Admin || (role != Role::Worker && patterns.is_empty()),
                "{role:?} with {patterns:?}: sums over every machine"
            );
        }
    }

    #[test]
    fn listings_show_only_what_the_grant_may_read() {
        assert!(grant(Role::Admin, &[]).may_see("billing"));
        assert!(grant(Role::Operator, &["tests-*"]).may_see("tests-unit"));
        assert!(!grant(Role::Operator, &["tests-*"]).may_see("billing"));
        assert!(grant(Role::Reader, &[]).may_see("billing"));
        assert!(!grant(Role::Reader, &["a-*", "b-*"]).may_see("c-1"));
        assert!(grant(Role::Reader, &["a-*", "b-*"]).may_see("b-1"));
        assert!(!grant(Role::Worker, &["*"]).may_see("anything"));
    }

    #[test]
    fn roles_read_back_from_their_names() {
        for role in [Role::Admin, Role::Operator, Role::Worker, Role::Reader] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
