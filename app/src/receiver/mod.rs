//! A NiFi ListenHTTP-compatible receiver (being written).
