//! Resampling for the listening copy (filled in with the Opus encoder).
