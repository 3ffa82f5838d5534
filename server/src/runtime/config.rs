//! How the runtime behaves: limits, naming and prices, with AWS's defaults.

use crate::billing::PriceTable;

/// How the runtime behaves.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The region in ARNs.
    pub region: String,
    /// The account id in ARNs.
    pub account_id: String,
    /// The largest input, output or state payload, in bytes.
    pub max_payload_bytes: usize,
    /// The most events one execution may have (AWS: 25,000); reaching it fails the
    /// execution with `States.Runtime` (the engine enforces it).
    pub max_history_events: u64,
    /// The longest an Express execution may run (AWS: 5 minutes).
    pub express_max_seconds: u64,
    /// How many finished Express executions stay inspectable in memory.
    pub express_history: usize,
    /// Prices for usage estimates.
    pub prices: PriceTable,
    /// Partitions of a new data directory (an existing one keeps its recorded count).
    pub partitions: u16,
    /// This node's id, addresses and lease period, used when nodes share the store.
    pub cluster: super::cluster::ClusterConfig,
    /// The admin credential given at start-up (`--admin-credentials`): with it, or with
    /// keys in the store, every call must present a key.
    pub admin_credential: Option<crate::auth::Credential>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            max_payload_bytes: crate::asl::eval::DEFAULT_MAX_PAYLOAD_BYTES,
            max_history_events: 25_000,
            express_max_seconds: 300,
            express_history: 1000,
            prices: PriceTable::default(),
            partitions: crate::placement::DEFAULT_PARTITIONS,
            cluster: Default::default(),
            admin_credential: None,
        }
    }
}
