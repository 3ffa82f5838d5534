//! State machines: their records and the revisions of their definitions, created,
//! updated and deleted under the resource lock, each change one durable batch.

use super::durable::{Durable, ResourceWrites};
use super::{Arns, MachineView, RuntimeError, check_name, now_ms};
use crate::asl::validate::{self, Diagnostic};
use crate::store::{Batch, ExecutionRecord, MachineRecord, MachineType, Write};

/// The state machines of the store.
pub(super) struct Machines {
    durable: Durable,
    arns: Arns,
    writes: ResourceWrites,
}

impl Machines {
    pub fn new(durable: Durable, arns: Arns, writes: ResourceWrites) -> Machines {
        Machines {
            durable,
            arns,
            writes,
        }
    }

    /// Creates a state machine (idempotent for the same definition and type).
    pub async fn create(
        &self,
        name: &str,
        definition: &str,
        machine_type: MachineType,
        role_arn: Option<&str>,
    ) -> Result<MachineView, RuntimeError> {
        check_name("state machine", name)?;
        let parsed = validate::parse(definition).map_err(RuntimeError::InvalidDefinition)?;
        check_express(machine_type, &parsed)?;
        let store = &self.durable.store;
        let _serial = self.writes.lock().await;
        if let Some(existing) = store.machine(name)? {
            let current = store
                .revision(name, existing.revision)?
                .map(|r| r.definition)
                .unwrap_or_default();
            if current == definition && existing.machine_type == machine_type {
                return Ok(MachineView {
                    record: existing,
                    definition: current,
                    warnings: parsed.warnings,
                });
            }
            return Err(RuntimeError::MachineAlreadyExists(format!(
                "a state machine named '{name}' already exists with a different definition or type; use UpdateStateMachine"
            )));
        }
        let now = now_ms();
        let record = MachineRecord {
            name: name.to_string(),
            arn: self.arns.machine(name),
            machine_type,
            revision: 1,
            created_ms: now,
            updated_ms: now,
            role_arn: role_arn.map(str::to_string),
        };
        self.store_revision(record, definition, parsed.warnings)
            .await
    }

    /// Stores a new revision of a state machine's definition.
    pub async fn update(
        &self,
        name_or_arn: &str,
        definition: &str,
        role_arn: Option<&str>,
    ) -> Result<MachineView, RuntimeError> {
        let name = self.arns.machine_name(name_or_arn)?;
        let parsed = validate::parse(definition).map_err(RuntimeError::InvalidDefinition)?;
        let _serial = self.writes.lock().await;
        let mut record = self.record(&name)?;
        check_express(record.machine_type, &parsed)?;
        record.revision += 1;
        record.updated_ms = now_ms();
        if let Some(role_arn) = role_arn {
            record.role_arn = Some(role_arn.to_string());
        }
        self.store_revision(record, definition, parsed.warnings)
            .await
    }

    /// Writes `record` with its latest revision's definition.
    async fn store_revision(
        &self,
        record: MachineRecord,
        definition: &str,
        warnings: Vec<Diagnostic>,
    ) -> Result<MachineView, RuntimeError> {
        let mut batch = Batch::default();
        batch.push(Write::PutRevision {
            machine: record.name.clone(),
            revision: record.revision,
            definition: definition.to_string(),
            stored_ms: record.updated_ms,
        });
        batch.push(Write::PutMachine(record.clone()));
        self.durable.commit(batch).await?;
        Ok(MachineView {
            record,
            definition: definition.to_string(),
            warnings,
        })
    }

    /// A state machine's record, or StateMachineDoesNotExist.
    pub fn record(&self, name: &str) -> Result<MachineRecord, RuntimeError> {
        self.durable.store.machine(name)?.ok_or_else(|| {
            RuntimeError::MachineNotFound(format!("state machine '{name}' does not exist"))
        })
    }

    /// A state machine with its latest definition.
    pub fn view(&self, name_or_arn: &str) -> Result<MachineView, RuntimeError> {
        let name = self.arns.machine_name(name_or_arn)?;
        let record = self.record(&name)?;
        let definition = self
            .durable
            .store
            .revision(&name, record.revision)?
            .map(|r| r.definition)
            .unwrap_or_default();
        let warnings = validate::parse(&definition)
            .map(|p| p.warnings)
            .unwrap_or_default();
        Ok(MachineView {
            record,
            definition,
            warnings,
        })
    }

    /// The state machine `execution` runs, as it was at the execution's revision:
    /// `record.revision` is that revision and `record.updated_ms` when it was stored.
    /// Answers for a state machine deleted since, from the execution's own record.
    pub fn view_for(&self, execution: &ExecutionRecord) -> Result<MachineView, RuntimeError> {
        let store = &self.durable.store;
        let name = &execution.machine_name;
        let revision = store.revision(name, execution.revision)?.ok_or_else(|| {
            RuntimeError::Damaged(format!(
                "revision {} of state machine '{name}', which {} runs, is missing from the store",
                execution.revision, execution.arn
            ))
        })?;
        let current = store.machine(name)?;
        let created_ms = current
            .as_ref()
            .map_or(execution.start_ms, |m| m.created_ms);
        // Revisions stored before they carried a time: the machine's own dates.
        let updated_ms = revision.stored_ms.unwrap_or(match &current {
            Some(m) if m.revision == execution.revision => m.updated_ms,
            _ => created_ms,
        });
        let warnings = validate::parse(&revision.definition)
            .map(|p| p.warnings)
            .unwrap_or_default();
        Ok(MachineView {
            record: MachineRecord {
                name: name.clone(),
                arn: execution.machine_arn.clone(),
                machine_type: MachineType::Standard,
                revision: execution.revision,
                created_ms,
                updated_ms,
                role_arn: current.as_ref().and_then(|m| m.role_arn.clone()),
            },
            definition: revision.definition,
            warnings,
        })
    }

    /// Every state machine that can be read, by name.
    pub fn list(&self) -> Result<Vec<MachineRecord>, RuntimeError> {
        let machines = self.durable.store.machines()?;
        Ok(self.durable.damaged.readable(machines, "state machine"))
    }

    /// Deletes a state machine; running executions finish on their revision.
    pub async fn delete(&self, name_or_arn: &str) -> Result<(), RuntimeError> {
        let name = self.arns.machine_name(name_or_arn)?;
        // Held so a concurrent TagResource cannot write tags after the delete clears them.
        let _serial = self.writes.lock().await;
        self.record(&name)?;
        let mut batch = Batch::default();
        // A machine re-created under the same name starts untagged, as on AWS.
        batch.push(Write::PutTags {
            arn: self.arns.machine(&name),
            tags: Vec::new(),
        });
        batch.push(Write::DeleteMachine(name));
        self.durable.commit(batch).await
    }
}

/// An EXPRESS machine may not use activities, `.sync` or `.waitForTaskToken`.
fn check_express(machine_type: MachineType, parsed: &validate::Parsed) -> Result<(), RuntimeError> {
    if machine_type != MachineType::Express {
        return Ok(());
    }
    let problems = crate::asl::express::express_problems(&parsed.machine);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RuntimeError::InvalidDefinition(problems))
    }
}
