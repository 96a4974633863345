use clap::{Args, Subcommand};
use tellus_core::AudioPosition;
use tellus_core::model::{ConsentDraft, ConsentForm, ConsentKind, ConsentMethod, ProjectConfig};

use crate::story::story_id;
use crate::{CmdResult, Context, fail, output};

#[derive(Subcommand)]
pub enum ConsentCommand {
    /// Print a consent form to read with the storyteller
    Form(FormChoice),
    /// Record the storyteller's consent, item by item
    Give {
        #[arg(long)]
        story: String,
        #[command(flatten)]
        form: FormChoice,
        #[command(flatten)]
        choices: Choices,
    },
    /// Change which items the storyteller agrees to
    Amend {
        #[arg(long)]
        story: String,
        #[command(flatten)]
        choices: Choices,
    },
    /// Record that the storyteller withdrew their consent
    Withdraw {
        #[arg(long)]
        story: String,
        /// The storyteller asked for the audio on this device to be deleted too
        #[arg(long)]
        erase_audio: bool,
        #[command(flatten)]
        how: How,
    },
    /// Show the storyteller's current consent and its history
    Show {
        #[arg(long)]
        story: String,
    },
    /// Print the storyteller's receipt: what they agreed to, their personal code and the
    /// link to change their mind themselves
    Receipt {
        #[arg(long)]
        story: String,
        /// Also write it as a printable HTML page (with the link as a QR code) to FILE
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
    },
}

#[derive(Args)]
pub struct FormChoice {
    /// Consent form id [default: the project's form]
    #[arg(long)]
    form: Option<String>,
    /// Form version [default: the newest]
    #[arg(long)]
    form_version: Option<u32>,
    /// Language the form was read in [default: en, or the form's first]
    #[arg(long)]
    language: Option<String>,
}

#[derive(Args)]
pub struct Choices {
    /// Items granted, comma-separated, e.g. record,research_use
    #[arg(long, value_delimiter = ',', required = true)]
    grant: Vec<String>,
    /// The storyteller's real name (kept only with credit_by_name)
    #[arg(long)]
    name: Option<String>,
    /// Contact details (kept only with recontact)
    #[arg(long)]
    contact: Option<String>,
    #[command(flatten)]
    how: How,
}

#[derive(Args)]
pub struct How {
    /// Consent was said aloud on the recording at this position
    #[arg(long, value_name = "POSITION", conflicts_with = "signed")]
    verbal_at: Option<String>,
    /// Consent was signed on paper
    #[arg(long)]
    signed: bool,
    /// Who captured it
    #[arg(long, env = "TELLUS_REPORTER", default_value = "reporter")]
    by: String,
}

impl How {
    fn method(&self) -> Result<ConsentMethod, String> {
        Ok(match (&self.verbal_at, self.signed) {
            (Some(at), _) => ConsentMethod::Verbal {
                at: at.parse::<AudioPosition>().map_err(fail)?.as_millis(),
            },
            (None, true) => ConsentMethod::Signed,
            (None, false) => ConsentMethod::AppCheckbox,
        })
    }
}

impl FormChoice {
    fn resolve<'a>(&self, project: &'a ProjectConfig) -> Result<(&'a ConsentForm, String), String> {
        let form = match (&self.form, self.form_version) {
            (Some(id), Some(v)) => project.form(id, v),
            (id, version) => project
                .consent_forms
                .iter()
                .filter(|f| id.as_ref().is_none_or(|id| &f.id == id))
                .filter(|f| version.is_none_or(|v| f.version == v))
                .max_by_key(|f| f.version),
        }
        .ok_or_else(|| {
            format!(
                "this project has no consent form {} version {}",
                self.form.as_deref().unwrap_or("(any)"),
                self.form_version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "(any)".into())
            )
        })?;
        // Asked for, the language is the one shown (or refused); else the consent
        // engine's one rule, as on the phones.
        let language = match &self.language {
            Some(lang) => lang.clone(),
            None => form.choose_language::<&str>(&[]).to_string(),
        };
        Ok((form, language))
    }
}

fn draft(kind: ConsentKind, choices: &Choices) -> Result<ConsentDraft, String> {
    Ok(ConsentDraft {
        kind,
        form_id: None,
        form_version: None,
        language: None,
        granted: choices.grant.iter().map(|k| k.trim().to_string()).collect(),
        method: choices.how.method()?,
        captured_by: choices.how.by.clone(),
        name: choices.name.clone(),
        contact: choices.contact.clone(),
        erase_audio: false,
    })
}

pub fn run(ctx: &Context, cmd: ConsentCommand) -> CmdResult {
    let store = ctx.open_store()?;
    let event = match cmd {
        ConsentCommand::Form(choice) => {
            let project = store.project().map_err(fail)?;
            let (form, language) = choice.resolve(&project)?;
            let text = form.rendered_text(&language).ok_or_else(|| {
                format!(
                    "consent form {} version {} has no text in language '{language}'",
                    form.id, form.version
                )
            })?;
            if ctx.json {
                return output::json(&serde_json::json!({
                    "form_id": form.id, "version": form.version, "language": language,
                    "text": text, "text_sha256": form.text_sha256(&language),
                }));
            }
            println!(
                "Consent form {} version {} ({language})\n\n{text}",
                form.id, form.version
            );
            return Ok(());
        }
        ConsentCommand::Give {
            story,
            form,
            choices,
        } => {
            let id = story_id(&story)?;
            let project = store.project().map_err(fail)?;
            let (form, language) = form.resolve(&project)?;
            let mut draft = draft(ConsentKind::Given, &choices)?;
            draft.form_id = Some(form.id.clone());
            draft.form_version = Some(form.version);
            draft.language = Some(language);
            store.record_consent(id, &draft).map_err(fail)?
        }
        ConsentCommand::Amend { story, choices } => {
            let draft = draft(ConsentKind::Amended, &choices)?;
            store
                .record_consent(story_id(&story)?, &draft)
                .map_err(fail)?
        }
        ConsentCommand::Withdraw {
            story,
            erase_audio,
            how,
        } => {
            let mut draft = ConsentDraft::withdraw(erase_audio);
            draft.method = how.method()?;
            draft.captured_by = how.by.clone();
            store
                .record_consent(story_id(&story)?, &draft)
                .map_err(fail)?
        }
        ConsentCommand::Receipt { story, html } => {
            let receipt = store.consent_receipt(story_id(&story)?).map_err(fail)?;
            if let Some(path) = &html {
                std::fs::write(path, &receipt.html)
                    .map_err(|e| format!("cannot write the receipt to {}: {e}", path.display()))?;
            }
            if ctx.json {
                return output::json(&receipt);
            }
            print!("{}", receipt.text);
            if let Some(path) = &html {
                eprintln!("Printable receipt written to {}", path.display());
            }
            return Ok(());
        }
        ConsentCommand::Show { story } => {
            let id = story_id(&story)?;
            let events = store.consent_events(id).map_err(fail)?;
            let state = tellus_core::model::ConsentState::fold(&events);
            let identity = store.identity(id).map_err(fail)?;
            if ctx.json {
                return output::json(&serde_json::json!({
                    "current": state, "events": events, "identity": identity,
                }));
            }
            println!("Consent: {}", output::consent_line(&state));
            for e in &events {
                println!(
                    "  {}  {:<9} {} by {}{}",
                    e.captured_at,
                    e.kind.as_str(),
                    output::method_text(&e.method),
                    e.captured_by,
                    if e.granted.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ": {}",
                            e.granted.iter().cloned().collect::<Vec<_>>().join(", ")
                        )
                    }
                );
            }
            return Ok(());
        }
    };
    if ctx.json {
        return output::json(&event);
    }
    let state = store.consent(event.story_id).map_err(fail)?;
    println!(
        "Consent {}. Now: {}",
        event.kind.as_str(),
        output::consent_line(&state)
    );
    if event.kind != ConsentKind::Withdrawn {
        println!(
            "The storyteller's receipt: tellus consent receipt --story {}",
            event.story_id
        );
    }
    Ok(())
}
