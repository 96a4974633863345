use super::ProjectConfig;

const SAMPLE_PROJECT_JSON: &str = include_str!("sample_project.json");

/// A sample project modelled on a community-reporting project about co-production in
/// local services. The demo and the tests use it; it also documents the config format.
pub fn sample_project() -> ProjectConfig {
    ProjectConfig::from_json(SAMPLE_PROJECT_JSON)
        .expect("the embedded sample project is valid (checked by a test)")
}
