//! Changes made to an expression once it is parsed, so that evaluating it stays within
//! the engine's rules and the server's bounds:
//!
//! - `$now(...)` becomes `$fromMillis($millis(), ...)`, and `$millis` reads the engine's
//!   clock (`functions`): the time comes from the engine, never the machine.
//! - Calls of the four built-ins whose output can dwarf their input in one step, with no
//!   checkpoint inside where a budget could stop them — `$string` (a value whose parts
//!   are shared can stand for gigabytes of text), `$join` and `$replace` (a separator or
//!   a replacement repeated a million times) and `$pad` (any width) — first hand their
//!   evaluated arguments to `$__stepwise_check_size`, which refuses output larger than
//!   the memory limit before any of it is built. Arguments are bound to block-local
//!   variables so each is evaluated once.
//!
//! It also collects the `$names` an expression mentions and the functions it calls, so
//! that only those variables are bound and only those AWS functions registered.

use std::collections::BTreeSet;

use jsonata_core::ast::{AstNode, BinaryOp, PathStep, Stage};

/// The host function the size checks call (a name no definition would use).
pub const CHECK_SIZE: &str = "__stepwise_check_size";

/// The built-ins whose output is checked before they run.
pub const CHECKED: [&str; 4] = ["string", "join", "pad", "replace"];

/// Every `$name` read and every function called by name in `node`.
pub fn collect_names(
    node: &AstNode,
    names: &mut BTreeSet<String>,
    functions: &mut BTreeSet<String>,
) {
    visit(node, &mut |n| match n {
        AstNode::Variable(name) if !name.is_empty() => {
            names.insert(name.clone());
            // A function can be passed by name: `$map(xs, $partition)`.
            functions.insert(name.clone());
        }
        AstNode::Function { name, .. } => {
            functions.insert(name.clone());
        }
        _ => {}
    });
}

/// The expression with `$now` and the checked built-ins rewritten (see the module).
pub fn rewrite(node: AstNode) -> AstNode {
    let mut fresh = 0usize;
    let unchained = map(node, &mut unchain);
    map(unchained, &mut |n| rewrite_call(n, &mut fresh))
}

/// `x ~> $join(', ')` is `$join(x, ', ')` (JSONata: the value on the left becomes the
/// first argument of the call on the right). Written out as a call, a checked function
/// chained this way is checked too, and its rewritten form is not left where `~>`
/// needs a function.
fn unchain(node: AstNode) -> AstNode {
    match node {
        AstNode::Binary {
            op: BinaryOp::ChainPipe,
            lhs,
            rhs,
        } => match *rhs {
            AstNode::Function {
                name,
                mut args,
                is_builtin: true,
            } if CHECKED.contains(&name.as_str())
                && !args.iter().any(|a| matches!(a, AstNode::Placeholder)) =>
            {
                args.insert(0, *lhs);
                AstNode::Function {
                    name,
                    args,
                    is_builtin: true,
                }
            }
            rhs => AstNode::Binary {
                op: BinaryOp::ChainPipe,
                lhs,
                rhs: Box::new(rhs),
            },
        },
        other => other,
    }
}

fn rewrite_call(node: AstNode, fresh: &mut usize) -> AstNode {
    match node {
        AstNode::Function {
            name,
            mut args,
            is_builtin: true,
        } if name == "now" => {
            args.insert(
                0,
                AstNode::Function {
                    name: "millis".into(),
                    args: Vec::new(),
                    is_builtin: true,
                },
            );
            AstNode::Function {
                name: "fromMillis".into(),
                args,
                is_builtin: true,
            }
        }
        AstNode::Function {
            name,
            args,
            is_builtin: true,
        } if CHECKED.contains(&name.as_str())
            && !args.is_empty()
            && !args.iter().any(|a| matches!(a, AstNode::Placeholder)) =>
        {
            let mut block = Vec::with_capacity(args.len() + 2);
            let mut locals = Vec::with_capacity(args.len());
            for arg in args {
                *fresh += 1;
                let local = format!("__stepwise_arg{fresh}");
                block.push(AstNode::Binary {
                    op: BinaryOp::ColonEqual,
                    lhs: Box::new(AstNode::Variable(local.clone())),
                    rhs: Box::new(arg),
                });
                locals.push(AstNode::Variable(local));
            }
            let mut check_args = vec![AstNode::String(name.clone())];
            check_args.extend(locals.iter().cloned());
            block.push(AstNode::Function {
                name: CHECK_SIZE.into(),
                args: check_args,
                is_builtin: true,
            });
            block.push(AstNode::Function {
                name,
                args: locals,
                is_builtin: true,
            });
            AstNode::Block(block)
        }
        other => other,
    }
}

/// Calls `f` on `node` and every node inside it.
fn visit(node: &AstNode, f: &mut impl FnMut(&AstNode)) {
    f(node);
    jsonata_core::value::with_stack(|| match node {
        AstNode::Path { steps } => {
            for step in steps {
                visit(&step.node, f);
                for stage in &step.stages {
                    if let Stage::Filter(inner) = stage {
                        visit(inner, f);
                    }
                }
            }
        }
        AstNode::Binary { lhs, rhs, .. } => {
            visit(lhs, f);
            visit(rhs, f);
        }
        AstNode::Unary { operand, .. } => visit(operand, f),
        AstNode::Function { args, .. } => args.iter().for_each(|a| visit(a, f)),
        AstNode::Call { procedure, args } => {
            visit(procedure, f);
            args.iter().for_each(|a| visit(a, f));
        }
        AstNode::Lambda { body, .. } => visit(body, f),
        AstNode::Array(items) | AstNode::Block(items) | AstNode::ArrayGroup(items) => {
            items.iter().for_each(|a| visit(a, f))
        }
        AstNode::Object(pairs) => pairs.iter().for_each(|(k, v)| {
            visit(k, f);
            visit(v, f);
        }),
        AstNode::ObjectTransform { input, pattern } => {
            visit(input, f);
            pattern.iter().for_each(|(k, v)| {
                visit(k, f);
                visit(v, f);
            });
        }
        AstNode::Conditional {
            condition,
            then_branch,
            else_branch,
        } => {
            visit(condition, f);
            visit(then_branch, f);
            if let Some(e) = else_branch {
                visit(e, f);
            }
        }
        AstNode::FunctionApplication(inner) => visit(inner, f),
        AstNode::Sort { input, terms } => {
            visit(input, f);
            terms.iter().for_each(|(t, _)| visit(t, f));
        }
        AstNode::Transform {
            location,
            update,
            delete,
        } => {
            visit(location, f);
            visit(update, f);
            if let Some(d) = delete {
                visit(d, f);
            }
        }
        _ => {}
    })
}

/// Rebuilds `node` bottom-up, passing every node through `f` after its children.
fn map(node: AstNode, f: &mut impl FnMut(AstNode) -> AstNode) -> AstNode {
    let mut inner = |n: AstNode| map(n, f);
    let rebuilt = jsonata_core::value::with_stack(|| match node {
        AstNode::Path { steps } => AstNode::Path {
            steps: steps
                .into_iter()
                .map(|step| {
                    let node = inner(step.node);
                    let stages = step
                        .stages
                        .into_iter()
                        .map(|stage| match stage {
                            Stage::Filter(expr) => Stage::Filter(Box::new(inner(*expr))),
                            other => other,
                        })
                        .collect();
                    PathStep {
                        node,
                        stages,
                        // A step whose body changed is a new step (its id keys compiled code).
                        id: Default::default(),
                        ..step
                    }
                })
                .collect(),
        },
        AstNode::Binary { op, lhs, rhs } => AstNode::Binary {
            op,
            lhs: Box::new(inner(*lhs)),
            rhs: Box::new(inner(*rhs)),
        },
        AstNode::Unary { op, operand } => AstNode::Unary {
            op,
            operand: Box::new(inner(*operand)),
        },
        AstNode::Function {
            name,
            args,
            is_builtin,
        } => AstNode::Function {
            name,
            args: args.into_iter().map(&mut inner).collect(),
            is_builtin,
        },
        AstNode::Call { procedure, args } => AstNode::Call {
            procedure: Box::new(inner(*procedure)),
            args: args.into_iter().map(&mut inner).collect(),
        },
        AstNode::Lambda {
            params,
            body,
            signature,
            thunk,
        } => AstNode::Lambda {
            params,
            body: Box::new(inner(*body)),
            signature,
            thunk,
        },
        AstNode::Array(items) => AstNode::Array(items.into_iter().map(&mut inner).collect()),
        AstNode::Block(items) => AstNode::Block(items.into_iter().map(&mut inner).collect()),
        AstNode::ArrayGroup(items) => {
            AstNode::ArrayGroup(items.into_iter().map(&mut inner).collect())
        }
        AstNode::Object(pairs) => AstNode::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (inner(k), inner(v)))
                .collect(),
        ),
        AstNode::ObjectTransform { input, pattern } => AstNode::ObjectTransform {
            input: Box::new(inner(*input)),
            pattern: pattern
                .into_iter()
                .map(|(k, v)| (inner(k), inner(v)))
                .collect(),
        },
        AstNode::Conditional {
            condition,
            then_branch,
            else_branch,
        } => AstNode::Conditional {
            condition: Box::new(inner(*condition)),
            then_branch: Box::new(inner(*then_branch)),
            else_branch: else_branch.map(|e| Box::new(inner(*e))),
        },
        AstNode::FunctionApplication(expr) => AstNode::FunctionApplication(Box::new(inner(*expr))),
        AstNode::Sort { input, terms } => AstNode::Sort {
            input: Box::new(inner(*input)),
            terms: terms.into_iter().map(|(t, asc)| (inner(t), asc)).collect(),
        },
        AstNode::Transform {
            location,
            update,
            delete,
        } => AstNode::Transform {
            location: Box::new(inner(*location)),
            update: Box::new(inner(*update)),
            delete: delete.map(|d| Box::new(inner(*d))),
        },
        other => other,
    });
    f(rebuilt)
}
