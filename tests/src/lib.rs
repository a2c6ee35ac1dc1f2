//! Multi-node and end-to-end scenarios for minga live in `tests/tests/`; this library holds
//! what they share.
