//! The environments as typed values.
