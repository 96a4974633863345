use clap::Subcommand;
use tellus_core::AudioPosition;
use tellus_core::model::{NewNote, NoteKind};

use crate::story::story_id;
use crate::{CmdResult, Context, fail, output};

#[derive(Subcommand)]
pub enum NoteCommand {
    /// Add a note (or with --marker, a marker) to a story
    Add {
        #[arg(long)]
        story: String,
        /// Where in the audio, e.g. 12:34 or 1:02:03
        #[arg(long, value_name = "POSITION")]
        at: Option<String>,
        /// A marker at the position rather than a typed note
        #[arg(long)]
        marker: bool,
        /// The interview guide question this belongs to, e.g. q3
        #[arg(long)]
        question: Option<String>,
        /// The note's text (a marker for a question may leave it out)
        #[arg(default_value = "")]
        text: String,
    },
}

pub fn run(ctx: &Context, cmd: NoteCommand) -> CmdResult {
    match cmd {
        NoteCommand::Add {
            story,
            at,
            marker,
            question,
            text,
        } => {
            let id = story_id(&story)?;
            let at = at
                .as_deref()
                .map(str::parse::<AudioPosition>)
                .transpose()
                .map_err(fail)?;
            let note = NewNote {
                kind: if marker {
                    NoteKind::Marker
                } else {
                    NoteKind::Note
                },
                text,
                at,
                question_id: question,
            };
            let note = ctx.open_store()?.add_note(id, &note).map_err(fail)?;
            if ctx.json {
                return output::json(&note);
            }
            let at = note.at.map(|p| format!(" at {p}")).unwrap_or_default();
            println!("{} added{at}: {}", note.kind.as_str(), note.text);
            Ok(())
        }
    }
}
