//! Typed model of the infrastructure; see the infra issue.
