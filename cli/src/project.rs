use std::path::PathBuf;

use clap::Subcommand;
use tellus_core::model::{ProjectConfig, sample_project};

use crate::{CmdResult, Context, fail, output};

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Set up this data folder for a project (the built-in sample when no file is given)
    Init {
        /// A project configuration in JSON
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Show the project's consent forms, interview guide and tags
    Show,
}

pub fn run(ctx: &Context, cmd: ProjectCommand) -> CmdResult {
    match cmd {
        ProjectCommand::Init { config } => {
            let config = match config {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    ProjectConfig::from_json(&text).map_err(fail)?
                }
                None => sample_project(),
            };
            let store = ctx.create_store()?;
            store.set_project(&config).map_err(fail)?;
            if ctx.json {
                return output::json(&config);
            }
            println!(
                "Project \"{}\" ({}) is set up in {}",
                config.name,
                config.id,
                store.dir().display()
            );
            Ok(())
        }
        ProjectCommand::Show => {
            let config = ctx.open_store()?.project().map_err(fail)?;
            if ctx.json {
                return output::json(&config);
            }
            print_project(&config);
            Ok(())
        }
    }
}

pub fn print_project(config: &ProjectConfig) {
    println!("{} ({})", config.name, config.id);
    let mut forms = output::table(&["consent form", "version", "languages", "items (* required)"]);
    for form in &config.consent_forms {
        forms.add_row(vec![
            form.id.clone(),
            form.version.to_string(),
            form.languages().collect::<Vec<_>>().join(", "),
            form.items
                .iter()
                .map(|i| format!("{}{}", i.key, if i.required { "*" } else { "" }))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    println!("{forms}");
    let mut guide = output::table(&["question", "text"]);
    for q in &config.guide {
        guide.add_row(vec![q.id.clone(), q.text.clone()]);
    }
    println!("{guide}");
    println!("Tags: {}", config.tags.join(", "));
    for field in &config.fields {
        println!(
            "Field {} ({}): {}",
            field.key,
            field.label,
            if field.options.is_empty() {
                "any text".to_string()
            } else {
                field.options.join(", ")
            }
        );
    }
    println!(
        "Audio uploads: {}",
        if config.upload_policy.audio_on_unmetered_only {
            "on Wi-Fi (unmetered networks) only"
        } else {
            "on any network"
        }
    );
}
