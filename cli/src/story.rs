use clap::Subcommand;
use tellus_core::model::{NewStory, StoryEdit, StoryId};

use crate::{CmdResult, Context, fail, output};

#[derive(Subcommand)]
pub enum StoryCommand {
    /// Start a new story with its storyteller
    New {
        #[arg(long)]
        title: String,
        /// A label for the storyteller (not their real name), e.g. "Participant 3"
        #[arg(long, default_value = "")]
        storyteller: String,
        #[arg(long, default_value = "")]
        summary: String,
    },
    /// List stories, newest first
    List {
        /// How many stories to show
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Show stories older than this one (for the next page)
        #[arg(long, value_name = "STORY")]
        before: Option<String>,
    },
    /// Show a story with its consent, notes and markers
    Show { story: String },
    /// Change a story's title, summary or demographics
    Edit {
        story: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        summary: Option<String>,
        /// Set one of the project's fields (`tellus project show` lists them), e.g.
        /// --set age_band=25-34
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Remove a demographic
        #[arg(long = "unset", value_name = "KEY")]
        unset: Vec<String>,
    },
    /// Mark a story finished and ready to deliver (needs `record` consent)
    Ready { story: String },
    /// Delete a story's lossless copies from this device without delivering them (only
    /// when the project says the listening copy is enough and it is delivered)
    FreeLossless {
        #[arg(long)]
        story: String,
    },
}

#[derive(Subcommand)]
pub enum TagCommand {
    /// Add one or more of the project's tags to a story
    Add {
        #[arg(long)]
        story: String,
        #[arg(required = true)]
        tags: Vec<String>,
    },
}

pub fn story_id(text: &str) -> Result<StoryId, String> {
    text.parse().map_err(fail)
}

pub fn run(ctx: &Context, cmd: StoryCommand) -> CmdResult {
    let store = ctx.open_store()?;
    match cmd {
        StoryCommand::New {
            title,
            storyteller,
            summary,
        } => {
            let story = store
                .create_story(&NewStory {
                    title,
                    summary,
                    storyteller_label: storyteller,
                })
                .map_err(fail)?;
            if ctx.json {
                return output::json(&story);
            }
            println!("{}", story.id);
            Ok(())
        }
        StoryCommand::List { limit, before } => {
            let before = before.as_deref().map(story_id).transpose()?;
            list(ctx, &store, limit, before)
        }
        StoryCommand::Show { story } => show(ctx, &store, story_id(&story)?),
        StoryCommand::Edit {
            story,
            title,
            summary,
            set,
            unset,
        } => {
            let id = story_id(&story)?;
            let mut edit = StoryEdit {
                title,
                summary,
                ..Default::default()
            };
            for pair in set {
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("'{pair}' is not KEY=VALUE"))?;
                edit.demographics
                    .insert(key.to_string(), Some(value.to_string()));
            }
            for key in unset {
                edit.demographics.insert(key, None);
            }
            if edit == StoryEdit::default() {
                return Err("nothing to change: give --title, --summary, --set or --unset".into());
            }
            let story = store.edit_story(id, &edit).map_err(fail)?;
            done(ctx, &story, "updated")
        }
        StoryCommand::Ready { story } => {
            let story = store.mark_ready(story_id(&story)?).map_err(fail)?;
            done(ctx, &story, "ready to deliver")
        }
        StoryCommand::FreeLossless { story } => {
            let freed =
                tellus_core::audio::free_lossless(&store, story_id(&story)?).map_err(fail)?;
            if ctx.json {
                return output::json(&freed);
            }
            println!(
                "Freed {:.1} MB: the lossless copies of {} recording(s) left this device; their listening copies are delivered",
                freed.bytes_freed as f64 / 1e6,
                freed.recordings.len()
            );
            Ok(())
        }
    }
}

pub fn run_tag(ctx: &Context, cmd: TagCommand) -> CmdResult {
    let store = ctx.open_store()?;
    match cmd {
        TagCommand::Add { story, tags } => {
            let story = store.add_tags(story_id(&story)?, &tags).map_err(fail)?;
            if ctx.json {
                return output::json(&story);
            }
            println!("{} is tagged: {}", story.id, story.tags.join(", "));
            Ok(())
        }
    }
}

fn done(ctx: &Context, story: &tellus_core::model::Story, what: &str) -> CmdResult {
    if ctx.json {
        return output::json(story);
    }
    println!("{} is {what} (revision {})", story.id, story.revision);
    Ok(())
}

pub fn show(ctx: &Context, store: &tellus_core::Store, id: StoryId) -> CmdResult {
    let (story, notes, events) = store.story_with_details(id).map_err(fail)?;
    let identity = store.identity(id).map_err(fail)?;
    let recordings = store.recordings(id).map_err(fail)?;
    let files = tellus_core::audio::story_files(store, id).map_err(fail)?;
    if ctx.json {
        return output::json(&serde_json::json!({
            "story": story,
            "notes": notes,
            "consent_events": events,
            "identity": identity,
            "recordings": recordings,
            "files": files,
        }));
    }
    let ids: Vec<_> = recordings.iter().map(|r| r.id).collect();
    output::print_story(&story, &notes, &events, &identity, &ids);
    if !recordings.is_empty() {
        let mut t = output::table(&["#", "recording", "length", "format", "state", "sha256"]);
        for (i, r) in recordings.iter().enumerate() {
            t.add_row(vec![
                (i + 1).to_string(),
                r.id.to_string(),
                tellus_core::AudioPosition::from_millis(r.duration_ms()).to_string(),
                format!("{} Hz, {} ch", r.sample_rate, r.channels),
                r.state.as_str().to_string(),
                r.sha256[..12].to_string(),
            ]);
        }
        println!("\nRecordings\n{t}");
    }
    if !files.is_empty() {
        let mut t = output::table(&["#", "copy", "format", "size", "on this device", "delivered"]);
        for f in &files {
            let n = recordings
                .iter()
                .position(|r| r.id == f.recording_id)
                .map_or(0, |i| i + 1);
            t.add_row(vec![
                n.to_string(),
                f.representation
                    .map_or("recorded", |r| r.as_str())
                    .to_string(),
                f.format.to_string(),
                format!("{:.1} MB", f.bytes as f64 / 1e6),
                if f.on_device { "yes" } else { "no" }.to_string(),
                if f.delivered { "yes" } else { "no" }.to_string(),
            ]);
        }
        println!("\nFiles\n{t}");
    }
    Ok(())
}

pub fn list(
    ctx: &Context,
    store: &tellus_core::Store,
    limit: u32,
    before: Option<StoryId>,
) -> CmdResult {
    let stories = store.list_stories(limit, before).map_err(fail)?;
    if ctx.json {
        return output::json(&stories);
    }
    if stories.is_empty() {
        println!("No stories yet. Start one with: tellus story new --title \"...\"");
        return Ok(());
    }
    let mut t = output::table(&[
        "id",
        "title",
        "storyteller",
        "status",
        "notes",
        "audio",
        "created",
    ]);
    for s in &stories {
        t.add_row(vec![
            s.id.to_string(),
            s.title.clone(),
            s.storyteller_label.clone(),
            s.status.as_str().to_string(),
            s.note_count.to_string(),
            s.recording_count.to_string(),
            s.created_at.to_string(),
        ]);
    }
    println!("{t}");
    Ok(())
}
