use clap::Subcommand;
use tellus_core::model::{NewNote, NoteKind, RecordingId, StoryId};
use tellus_core::{AudioPosition, Store};

use crate::story::story_id;
use crate::{CmdResult, Context, fail, output};

#[derive(Subcommand)]
pub enum NoteCommand {
    /// Add a note (or with --marker, a marker) to a story
    Add {
        #[arg(long)]
        story: String,
        /// Where in the audio, e.g. 12:34 or 1:02:03: within the story's latest recording
        /// unless --recording names another (past its end is refused)
        #[arg(long, value_name = "POSITION")]
        at: Option<String>,
        /// The recording the position is in: its number as `tellus story show` lists
        /// them (1 is the first), or its id
        #[arg(long, value_name = "N|ID", requires = "at")]
        recording: Option<String>,
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
            recording,
            marker,
            question,
            text,
        } => {
            let id = story_id(&story)?;
            let store = ctx.open_store()?;
            let recording_id = match recording {
                None => None,
                Some(which) => Some(recording_of(&store, id, &which)?),
            };
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
                recording_id,
            };
            let note = store.add_note(id, &note).map_err(fail)?;
            if ctx.json {
                return output::json(&note);
            }
            let at = note.at.map(|p| format!(" at {p}")).unwrap_or_default();
            println!("{} added{at}: {}", note.kind.as_str(), note.text);
            Ok(())
        }
    }
}

/// `--recording 2` (as `story show` numbers them) or a recording's id.
fn recording_of(store: &Store, story: StoryId, which: &str) -> Result<RecordingId, String> {
    let recordings = store.recordings(story).map_err(fail)?;
    if let Ok(number) = which.parse::<usize>() {
        return recordings
            .get(number.wrapping_sub(1))
            .map(|r| r.id)
            .ok_or_else(|| {
                format!(
                    "this story has {} recording(s); --recording {number} is not one of them",
                    recordings.len()
                )
            });
    }
    which
        .parse::<RecordingId>()
        .map_err(|_| format!("'{which}' is not a recording number or id"))
}
