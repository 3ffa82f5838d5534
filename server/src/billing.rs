//! Billing: what AWS would charge for the work Stepwise did, counted the way AWS's
//! pricing page counts it.
//!
//! - Standard: state transitions. "Step Functions counts a state transition each time a
//!   step of your workflow is executed ... including retries." Stepwise counts every
//!   `...StateEntered` event and every retry (a Task, Parallel or Map run again by Retry).
//! - Express: requests (one per started execution) and duration: "calculated from the
//!   time your workflow begins executing until it completes or otherwise terminates,
//!   rounded up to the nearest 100ms, and the amount of memory used ... billed in 64-MB
//!   chunks", with memory estimated as AWS publishes: 50 MB + definition size + execution
//!   data size × the number of Parallel or Map steps.
//!
//! Prices default to AWS's us-east-1 list prices and can be replaced from configuration.

use serde::{Deserialize, Serialize};

/// Prices in US dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// Per Standard state transition ($0.025 per 1,000).
    pub standard_transition: f64,
    /// Per Express request ($1.00 per million).
    pub express_request: f64,
    /// Express duration tiers: (GB-hours in the tier, price per GB-hour); the last tier
    /// has no upper bound.
    pub express_gb_hour_tiers: Vec<(f64, f64)>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable {
            standard_transition: 0.025 / 1000.0,
            express_request: 1.0 / 1_000_000.0,
            express_gb_hour_tiers: vec![(1_000.0, 0.06), (4_000.0, 0.03), (f64::INFINITY, 0.01642)],
        }
    }
}

/// One Express execution's billed figures, as AWS's BillingDetails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpressBilling {
    /// Duration rounded up to the next 100 ms.
    pub billed_duration_ms: u64,
    /// Estimated memory rounded up to the next 64 MB.
    pub billed_memory_mb: u64,
}

const MB: f64 = 1024.0 * 1024.0;

/// Bills an Express execution from its duration, definition size, largest payload and
/// number of Parallel/Map steps (branches and iterations started).
pub fn express_billing(
    duration_ms: u64,
    definition_bytes: usize,
    data_bytes: usize,
    parallel_map_steps: usize,
) -> ExpressBilling {
    let billed_duration_ms = duration_ms.div_ceil(100).max(1) * 100;
    // With no Parallel or Map step the payload still has to be held once.
    let memory_mb = 50.0
        + (definition_bytes as f64 + data_bytes as f64 * parallel_map_steps.max(1) as f64) / MB;
    let billed_memory_mb = ((memory_mb / 64.0).ceil() as u64).max(1) * 64;
    ExpressBilling {
        billed_duration_ms,
        billed_memory_mb,
    }
}

/// Counted usage (of one state machine in one hour, or summed over a window).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Standard executions started.
    pub standard_executions: u64,
    /// Standard state transitions.
    pub standard_transitions: u64,
    /// Express executions started.
    pub express_requests: u64,
    /// Express billed duration, summed.
    pub express_billed_duration_ms: u64,
    /// Express billed GB × billed seconds, summed.
    pub express_gb_seconds: f64,
}

/// An estimated cost, by item.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    /// Standard transitions.
    pub standard: f64,
    /// Express requests.
    pub express_requests: f64,
    /// Express duration.
    pub express_duration: f64,
}

impl Cost {
    /// Everything.
    pub fn total(&self) -> f64 {
        self.standard + self.express_requests + self.express_duration
    }
}

impl Usage {
    /// Adds an Express execution's end.
    pub fn add_express(&mut self, billing: ExpressBilling) {
        self.express_billed_duration_ms += billing.billed_duration_ms;
        self.express_gb_seconds +=
            billing.billed_memory_mb as f64 / 1024.0 * billing.billed_duration_ms as f64 / 1000.0;
    }

    /// Adds another count.
    pub fn add(&mut self, other: &Usage) {
        self.standard_executions += other.standard_executions;
        self.standard_transitions += other.standard_transitions;
        self.express_requests += other.express_requests;
        self.express_billed_duration_ms += other.express_billed_duration_ms;
        self.express_gb_seconds += other.express_gb_seconds;
    }

    /// The cost at `prices`, applying the duration tiers to this usage's GB-hours.
    pub fn cost(&self, prices: &PriceTable) -> Cost {
        let mut gb_hours = self.express_gb_seconds / 3600.0;
        let mut express_duration = 0.0;
        for (size, price) in &prices.express_gb_hour_tiers {
            let in_tier = gb_hours.min(*size);
            express_duration += in_tier * price;
            gb_hours -= in_tier;
            if gb_hours <= 0.0 {
                break;
            }
        }
        Cost {
            standard: self.standard_transitions as f64 * prices.standard_transition,
            express_requests: self.express_requests as f64 * prices.express_request,
            express_duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // AWS pricing example: a 50 KB definition and 400 Map steps of 32 KB payload each use
    // 62.85 MB, billed as 64 MB.
    #[test]
    fn aws_memory_example() {
        let billing = express_billing(10_000, 50 * 1024, 32 * 1024, 400);
        assert_eq!(billing.billed_memory_mb, 64);
        let small = express_billing(10_000, 1024, 1024, 0);
        assert_eq!(small.billed_memory_mb, 64);
        let big = express_billing(10_000, 1024, 1024 * 1024, 20);
        assert_eq!(
            big.billed_memory_mb, 128,
            "50 MB + 20 MB rounds up to two chunks"
        );
    }

    #[test]
    fn duration_rounds_up_to_100_ms() {
        assert_eq!(express_billing(1, 0, 0, 0).billed_duration_ms, 100);
        assert_eq!(express_billing(100, 0, 0, 0).billed_duration_ms, 100);
        assert_eq!(express_billing(101, 0, 0, 0).billed_duration_ms, 200);
        assert_eq!(express_billing(0, 0, 0, 0).billed_duration_ms, 100);
    }

    // AWS pricing example: 100 million 10-second workflows at 64 MB cost $100 in requests
    // and $382.97 in duration (1,000 + 4,000 + 12,361.11 GB-hours across the tiers).
    #[test]
    fn aws_express_cost_example() {
        let usage = Usage {
            express_requests: 100_000_000,
            express_gb_seconds: 100_000_000.0 * 10.0 * 64.0 / 1024.0,
            ..Usage::default()
        };
        let cost = usage.cost(&PriceTable::default());
        assert!((cost.express_requests - 100.0).abs() < 1e-6);
        assert!(
            (cost.express_duration - 382.97).abs() < 0.01,
            "{}",
            cost.express_duration
        );
    }

    #[test]
    fn standard_cost_is_per_transition() {
        let usage = Usage {
            standard_transitions: 1_000_000,
            ..Usage::default()
        };
        assert!((usage.cost(&PriceTable::default()).standard - 25.0).abs() < 1e-9);
    }
}
