//! A state machine revision ready to run: the parsed definition plus an index from state
//! names (unique across the whole machine) to where each state lives, so the engine finds
//! any state, in any branch, without searching.

use std::collections::HashMap;

use crate::asl::definition::{Branch, State, StateKind, StateMachine};

/// One step from a branch to a nested one: the Parallel/Map state and the branch index.
type Hop = (String, usize);

/// A parsed definition with a state index.
#[derive(Debug, Clone)]
pub struct Machine {
    definition: StateMachine,
    paths: HashMap<String, Vec<Hop>>,
}

impl Machine {
    /// Indexes a validated definition.
    pub fn new(definition: StateMachine) -> Self {
        let mut paths = HashMap::new();
        index(&definition.root, &mut Vec::new(), &mut paths);
        Machine { definition, paths }
    }

    /// The definition.
    pub fn definition(&self) -> &StateMachine {
        &self.definition
    }

    /// The state with this name (validation guarantees names are unique).
    pub fn state(&self, name: &str) -> Option<&State> {
        let mut branch = &self.definition.root;
        for (container, index) in self.paths.get(name)? {
            branch = nested(branch.state(container)?, *index)?;
        }
        branch.state(name)
    }

    /// The branch `index` of a Parallel state (or the ItemProcessor of a Map, index 0).
    pub fn branch_of<'a>(&'a self, state: &'a State, index: usize) -> Option<&'a Branch> {
        nested(state, index)
    }
}

fn nested(state: &State, index: usize) -> Option<&Branch> {
    match &state.kind {
        StateKind::Parallel(parallel) => parallel.branches.get(index),
        StateKind::Map(map) if index == 0 => Some(&map.processor),
        _ => None,
    }
}

fn index(branch: &Branch, path: &mut Vec<Hop>, paths: &mut HashMap<String, Vec<Hop>>) {
    for (name, state) in &branch.states {
        paths.insert(name.clone(), path.clone());
        let branches: Vec<&Branch> = match &state.kind {
            StateKind::Parallel(parallel) => parallel.branches.iter().collect(),
            StateKind::Map(map) => vec![&map.processor],
            _ => Vec::new(),
        };
        for (i, nested_branch) in branches.into_iter().enumerate() {
            path.push((name.clone(), i));
            index(nested_branch, path, paths);
            path.pop();
        }
    }
}
