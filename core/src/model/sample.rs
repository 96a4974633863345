use super::ProjectConfig;

/// The sample project's configuration as written (`sample_project.json`): what the
/// server's tests and the demo load into a server, byte for byte.
pub const SAMPLE_PROJECT_JSON: &str = include_str!("sample_project.json");

/// A sample project modelled on a community-reporting project about co-production in
/// local services. The demo and the tests use it; it also documents the config format.
pub fn sample_project() -> ProjectConfig {
    ProjectConfig::from_json(SAMPLE_PROJECT_JSON)
        .expect("the embedded sample project is valid (checked by a test)")
}
