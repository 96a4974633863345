//! The sample project every test server holds: the core's own (one copy, in
//! `core/src/model/sample_project.json`).

/// The sample project's id.
pub const PROJECT: &str = "coproduction-stories-2026";

/// The sample project's configuration JSON, as the core ships it.
pub const SAMPLE_PROJECT: &str = tellus_core::model::SAMPLE_PROJECT_JSON;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_project_is_the_cores_and_has_the_id_tests_use() {
        let parsed = tellus_core::model::sample_project();
        assert_eq!(parsed.id, PROJECT);
        let config: serde_json::Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
        assert_eq!(config["id"], PROJECT);
    }
}
