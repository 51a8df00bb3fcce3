//! What one probe saw: data, not errors.
