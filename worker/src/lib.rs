//! Worker SDK for Stepwise task queues: long-poll a queue, run a handler, report the
//! result. The SDK itself arrives with the worker issue; the durable core it talks to
//! is built first.
