//! The file aggregator: turns an SQS batch of S3 events into one verified tar.gz bundle, archives it and
//! delivers it to NiFi or MinIO; plus the NiFi-compatible receiver used by tests, local runs and dev.

pub mod headers;
pub mod manifest;
pub mod receiver;
