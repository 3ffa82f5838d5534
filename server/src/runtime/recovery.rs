//! Recovery at start-up: what the store holds, read back into memory. Usage counts go to
//! their partitions; the running executions (from the store's running set, never the
//! closed ones) and the durable timers are handed to their partitions, each replaying its
//! own executions, re-registering their task tokens, re-offering unstarted tasks and
//! re-arming timers at their original due times (overdue ones fire at once). Records that
//! cannot be read are set aside and reported; everything else recovers.

use super::durable::Durable;
use super::partition::{Holding, Partition, Partitions, Running};
use super::queues::{Offer, Queues};
use super::{RuntimeError, now_ms};
use crate::engine::execution::Step;
use crate::engine::{ArmedTimers, Execution, Status, TimerKey};
use crate::store::{Batch, Damaged, ExecutionRecord, ExpressStart, StoreError, TimerRecord, Write};

/// What recovery reads from and fills.
pub(super) struct Recovery<'a> {
    pub durable: &'a Durable,
    pub partitions: &'a Partitions,
    pub queues: &'a Queues,
}

impl Recovery<'_> {
    /// Reads what the store holds of the partitions `taken` back into memory (usage
    /// counts, then each partition's running executions and timers) and from then on
    /// serves them as each says; answers the Express starts to run again. At start-up
    /// that is every partition; in a cluster, the ones a lease was just taken for.
    pub fn run(&self, taken: &[(u16, Holding)]) -> Result<Vec<ExpressStart>, RuntimeError> {
        let store = &self.durable.store;
        let damaged = &self.durable.damaged;
        let partitions = &self.partitions;
        let count = partitions.count();
        let mut holding = vec![None; usize::from(count)];
        for (partition, held) in taken {
            holding[usize::from(*partition)] = Some(*held);
        }
        let wanted = |partition: u16| holding[usize::from(partition)].is_some();
        for record in damaged.readable(store.usage()?, "usage record") {
            let partition = partitions.get(record.partition % count);
            if wanted(partition.id) {
                partition
                    .lock()
                    .usage
                    .insert((record.machine, record.hour), record.usage);
            }
        }
        let mut running = vec![Vec::new(); usize::from(count)];
        let executions = store.running_executions()?;
        for record in executions.damaged {
            // It may have been running: say so loudly rather than skip it quietly.
            damaged.set_aside(record);
        }
        for record in executions.records {
            let partition = partitions.of_execution(&record.arn).id;
            if record.status == Status::Running && wanted(partition) {
                running[usize::from(partition)].push(record);
            }
        }
        let mut timers = vec![Vec::new(); usize::from(count)];
        let stored_timers = store.timers()?;
        for record in stored_timers.damaged {
            damaged.set_aside(record);
        }
        for timer in stored_timers.records {
            let partition = partitions.of_execution(&timer.execution).id;
            if wanted(partition) {
                timers[usize::from(partition)].push(timer);
            }
        }
        let mut stale = Batch::default();
        let mut recovered = 0usize;
        let by_partition = partitions
            .iter()
            .zip(running)
            .zip(timers)
            .zip(holding.clone());
        for (((partition, running), timers), holding) in by_partition {
            if let Some(holding) = holding {
                recovered += self.partition(partition, holding, running, timers, &mut stale)?;
            }
        }
        if !stale.is_empty() {
            store.write(&[&stale])?;
            store.flush()?;
        }
        tracing::info!(
            executions = recovered,
            partitions = taken.len(),
            timers = partitions.iter().map(|p| p.timers.len()).sum::<usize>(),
            "recovered"
        );
        let express_starts = store.express_starts()?;
        for record in express_starts.damaged {
            damaged.set_aside(record);
        }
        let set_aside = damaged.set_aside_list();
        if !set_aside.is_empty() {
            tracing::error!(
                records = set_aside.len(),
                "recovery set aside stored records that cannot be read (listed above and at /health); everything else was recovered"
            );
        }
        Ok(express_starts
            .records
            .into_iter()
            .filter(|start| wanted(partitions.of_execution(&start.arn).id))
            .collect())
    }

    /// Replays a partition's running executions, re-offers their unstarted tasks and
    /// re-arms their timers; timers of executions no longer running go into `stale`.
    /// Returns how many executions it recovered.
    fn partition(
        &self,
        partition: &Partition,
        holding: Holding,
        running: Vec<ExecutionRecord>,
        timers: Vec<TimerRecord>,
        stale: &mut Batch,
    ) -> Result<usize, RuntimeError> {
        let store = &self.durable.store;
        let now = now_ms();
        let mut live = partition.lock();
        for record in running {
            let set_aside = |what: &str, e: RuntimeError| {
                self.durable.damaged.set_aside(Damaged {
                    key: format!("x|{}", record.arn),
                    reason: format!("the running execution's {what} cannot be read: {e}"),
                })
            };
            let events = match store.events(&record.arn) {
                Ok(events) => events,
                Err(e @ StoreError::Decode { .. }) => {
                    set_aside("history", e.into());
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let execution = Execution::replay(record.identity(), &events);
            let machine =
                match live.revision(&*self.durable.store, &record.machine_name, record.revision) {
                    Ok(machine) => machine,
                    Err(e @ RuntimeError::Damaged(_)) => {
                        set_aside("state machine revision", e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
            for thread in execution.threads.values() {
                let Step::Task(task) = &thread.step else {
                    continue;
                };
                live.register_task(
                    &record.arn,
                    &task.task_token,
                    &task.delivery_token,
                    task.poll_id.as_deref(),
                );
                if let Some(poll_id) = &task.poll_id {
                    self.queues
                        .remember_poll(poll_id, &record.arn, &task.delivery_token);
                }
                if task.started_ms.is_none() && !task.submitted {
                    self.queues
                        .offer(Offer::of_task(&record.arn, &machine, thread, task, None));
                } else if let (Some(seconds), false) = (task.heartbeat_seconds, task.submitted) {
                    // Heartbeats are not persisted: a started task gets a fresh heartbeat
                    // window from the restart, so its worker has time to reconnect.
                    partition.timers.arm(
                        &record.arn,
                        TimerKey::Heartbeat {
                            token: task.task_token.clone(),
                        },
                        now + seconds as i64 * 1000,
                    );
                }
            }
            live.executions.insert(
                record.arn.clone(),
                Running {
                    execution,
                    // Filled from the stored timers below.
                    armed: ArmedTimers::default(),
                    machine,
                    revision: record.revision,
                    express: None,
                    traceparent: None,
                },
            );
        }
        for timer in timers {
            if let Some(running) = live.executions.get_mut(&timer.execution) {
                running.armed.arm(timer.key.clone(), timer.due_ms);
                partition
                    .timers
                    .arm(&timer.execution, timer.key, timer.due_ms);
            } else {
                stale.push(Write::DeleteTimer(timer));
            }
        }
        live.holding = Some(holding);
        live.departures += 1;
        Ok(live.executions.len())
    }
}
