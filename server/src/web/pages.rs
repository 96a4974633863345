//! The HTML of the web page (maud: every value is escaped unless marked otherwise, and
//! nothing here marks story text otherwise). Landmarks, a skip link, labels on every
//! control, and markers as buttons so that the page works from the keyboard and reads
//! well in a screen reader.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use tellus_protocol::{
    AudioFormat, ConsentEventDoc, ConsentKind, ConsentMethod, ConsentStatus, ConsentSummary,
    NoteDoc, RecordingMeta, Representation, StoryDocument,
};

use super::format;
use super::query::{Filters, ListedStory, Listing, Project, StoryExtras};
use crate::error::Error;

/// A page around `content`; `project` is the signed-in lead's project name.
fn layout(title: &str, project: Option<&str>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · Tellus" }
                link rel="stylesheet" href="/lead/assets/style.css";
                script src="/lead/assets/player.js" defer {}
                script src="/lead/assets/transcript.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    div.brand {
                        span.logo aria-hidden="true" { "◉" }
                        span.name { "Tellus" }
                        @if let Some(p) = project {
                            span.project { (p) }
                        }
                    }
                    @if project.is_some() {
                        nav aria-label="Account" {
                            a href="/lead" { "All stories" }
                            a href="/lead/transcripts" { "Search transcripts" }
                            form method="post" action="/lead/sign-out" {
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (content) }
                footer.bottom {
                    p { "Stories here were shared in confidence. Use them only as each storyteller agreed." }
                }
            }
        }
    }
}

fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// A signed-in page of the project (the transcript search).
pub fn page(title: &str, project: &str, content: Markup) -> Response {
    respond(StatusCode::OK, layout(title, Some(project), content))
}

/// The sign-in form, with a notice when a token was refused.
pub fn sign_in(notice: Option<&str>, status: StatusCode) -> Response {
    let content = html! {
        div.narrow {
            h1 { "Sign in" }
            p.lede { "This page is for the project's leads. Sign in with the lead token you received when you enrolled." }
            @if let Some(n) = notice {
                div.notice.error role="alert" {
                    h2 { "That token cannot open this page" }
                    p { (n) }
                }
            }
            form.card method="post" action="/lead/sign-in" {
                label for="token" { "Lead token" }
                p.hint #token-hint { "It starts with “tellus_”. It is never shown again after you enrol, so keep it somewhere safe." }
                input #token type="password" name="token" required autocomplete="off"
                    spellcheck="false" aria-describedby="token-hint" autofocus;
                button.primary type="submit" { "Sign in" }
            }
        }
    };
    respond(status, layout("Sign in", None, content))
}

/// A one-time sign-in link, opened: one button spends it.
pub fn link_sign_in(secret: &str) -> Response {
    let content = html! {
        div.narrow {
            h1 { "Sign in" }
            p.lede { "This link signs you in as the project's lead, once. It came from `tellus lead open` on your computer." }
            form.card method="post" action={ "/lead/link/" (secret) } {
                button.primary type="submit" { "Sign in" }
            }
        }
    };
    respond(StatusCode::OK, layout("Sign in", None, content))
}

/// An error, as a page (the message is the same sentence the JSON API gives).
pub struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.0, None)
    }
}

/// An error as a page; for a signed-in lead (`project` is their project's name) with the
/// page's header as everywhere else: the project, All stories and Sign out.
pub fn error_page(error: &Error, project: Option<&str>) -> Response {
    {
        let status = error.status();
        if status.is_server_error() {
            tracing::error!(error = %error, "web page request failed");
        }
        let body = error.body();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "Check what you typed",
            StatusCode::FORBIDDEN => "Not allowed",
            _ if status.is_server_error() => "Something went wrong",
            _ => "This did not work",
        };
        let content = html! {
            div.narrow {
                h1 { (title) }
                div.notice.error role="alert" { p { (body.message) } }
                p { a href="/lead" { "Back to all stories" } }
            }
        };
        let mut response = respond(status, layout(title, project, content));
        error.add_headers(&mut response);
        response
    }
}

fn option(value: &str, label: &str, selected: &str) -> Markup {
    html! { option value=(value) selected[value == selected] { (label) } }
}

/// The words of a search snippet, with each match in a <mark>: the text is escaped
/// first, then the \u{2}/\u{3} delimiters FTS5 put around matches become tags.
fn snippet(text: &str) -> Markup {
    let mut parts = Vec::new();
    // Notes are indexed one per line; on the page they read as a list.
    let text = text.replace('\n', " · ");
    for (i, piece) in text.split(['\u{2}', '\u{3}']).enumerate() {
        parts.push((i % 2 == 1, piece.to_string()));
    }
    html! {
        @for (marked, piece) in &parts {
            @if *marked { mark { (piece) } } @else { (piece) }
        }
    }
}

fn consent_badges(consent: &ConsentSummary) -> Markup {
    html! {
        @if consent.status == ConsentStatus::Active {
            ul.badges aria-label="Consent granted" {
                @for item in format::in_form_order(&consent.granted) {
                    li.badge.granted { (format::item_short(item)) }
                }
            }
        } @else {
            p.badge.missing { "No consent recorded yet" }
        }
    }
}

fn story_card(story: &ListedStory) -> Markup {
    let href = format!("/lead/stories/{}", story.id);
    html! {
        li {
            @if let Some(doc) = &story.doc {
                article.card.story aria-labelledby={ "t-" (story.id) } {
                    h3 #{ "t-" (story.id) } { a href=(href) { (doc.title) } }
                    p.meta {
                        time datetime=(doc.created_at) { (format::date(&doc.created_at)) }
                        " · " (doc.storyteller.label)
                        " · reporter: " (story.reporter)
                        " · "
                        @match story.delivered {
                            0 => "no audio yet",
                            1 => "1 recording",
                            n => { (n) " recordings" },
                        }
                    }
                    @if let Some(s) = &story.snippet {
                        p.snippet { span.visually-hidden { "Matched: " } (snippet(s)) }
                    } @else if !doc.summary.is_empty() {
                        p.summary { (doc.summary) }
                    }
                    @if !doc.tags.is_empty() {
                        ul.tags aria-label="Tags" { @for t in &doc.tags { li { (t) } } }
                    }
                    (consent_badges(&story.consent))
                }
            } @else {
                article.card.tombstone aria-labelledby={ "t-" (story.id) } {
                    h3 #{ "t-" (story.id) } { a href=(href) { "Withdrawn story" } }
                    p {
                        "The storyteller withdrew this story"
                        @if let Some(at) = story.withdrawn_at { " on " (format::date_ms(at)) }
                        ". Its audio and text were deleted; only this tombstone remains."
                    }
                }
            }
        }
    }
}

pub struct ListPage<'a> {
    pub project: &'a Project,
    pub filters: &'a Filters,
    pub listing: &'a Listing,
    pub reporters: &'a [(String, String)],
    pub item_keys: &'a [String],
}

pub fn list(page: ListPage<'_>) -> Response {
    let f = page.filters;
    let listing = page.listing;
    let n = listing.total;
    let heading = match (n, f.any()) {
        (1, true) => "1 story matches".to_string(),
        (n, true) => format!("{n} stories match"),
        (1, false) => "1 story".to_string(),
        (n, false) => format!("{n} stories"),
    };
    let content = html! {
        h1 { "Stories" }
        form.filters.card role="search" method="get" action="/lead" aria-label="Search and filter stories" {
            div.field.wide {
                label for="q" { "Search titles, summaries and notes" }
                input #q type="search" name="q" value=(f.q);
            }
            div.field {
                label for="tag" { "Tag" }
                select #tag name="tag" {
                    (option("", "Any tag", &f.tag))
                    @for t in &page.project.tags { (option(t, t, &f.tag)) }
                }
            }
            div.field {
                label for="reporter" { "Reporter" }
                select #reporter name="reporter" {
                    (option("", "Any reporter", &f.reporter))
                    @for (id, label) in page.reporters { (option(id, label, &f.reporter)) }
                }
            }
            div.field {
                label for="from" { "Recorded from" }
                input #from type="text" name="from" value=(format::typed_date(&f.from))
                    placeholder="e.g. 4 Dec 2026" autocomplete="off";
            }
            div.field {
                label for="to" { "Recorded until" }
                input #to type="text" name="to" value=(format::typed_date(&f.to))
                    placeholder="e.g. 4 Dec 2026" autocomplete="off";
            }
            div.field {
                label for="consent" { "Consent" }
                select #consent name="consent" {
                    (option("", "Any", &f.consent))
                    @for key in page.item_keys {
                        (option(key, &format!("Granted: {}", format::item_short(key)), &f.consent))
                    }
                    (option("withdrawn", "Withdrawn", &f.consent))
                }
            }
            div.actions {
                button.primary type="submit" { "Apply" }
                @if f.any() { a href="/lead" { "Clear filters" } }
            }
        }
        section aria-labelledby="results" {
            h2 #results role="status" { (heading) }
            @if n == 0 {
                p.empty { "No story matches. Try fewer words or clear the filters." }
            }
            ul.stories { @for s in &listing.stories { (story_card(s)) } }
            @if listing.pages > 1 {
                nav.pager aria-label="Pages of results" {
                    @if listing.page > 1 {
                        a rel="prev" href=(f.on_page(listing.page - 1)) { "← Previous" }
                    }
                    span aria-current="page" { "Page " (listing.page) " of " (listing.pages) }
                    @if listing.page < listing.pages {
                        a rel="next" href=(f.on_page(listing.page + 1)) { "Next →" }
                    }
                }
            }
        }
        section.card.exports aria-labelledby="exports" {
            h2 #exports { "Export the project (CSV)" }
            p { "Each export holds only the stories whose storytellers agreed to that use. Withdrawn stories are never exported." }
            ul {
                li { a href="/lead/export.csv?scope=all" download { "Every story with consent to record" } " (internal use)" }
                li { a href="/lead/export.csv?scope=research" download { "Stories for research use" } }
                li { a href="/lead/export.csv?scope=public" download { "Stories that may be shared publicly" } }
            }
        }
    };
    respond(
        StatusCode::OK,
        layout("Stories", Some(&page.project.name), content),
    )
}

fn method_words(method: &ConsentMethod) -> String {
    match method {
        ConsentMethod::AppCheckbox => "with the checkboxes in the app".into(),
        ConsentMethod::Verbal { at } => {
            format!("aloud, on the recording at {}", format::position(*at))
        }
        ConsentMethod::Signed => "on a signed form".into(),
        ConsentMethod::Storyteller => "by the storyteller, with their personal code".into(),
    }
}

fn event_words(event: &ConsentEventDoc) -> String {
    let what = match event.kind {
        ConsentKind::Given => "Given",
        ConsentKind::Amended => "Changed",
        ConsentKind::Withdrawn => "Withdrawn",
    };
    format!(
        "{what} on {} {}",
        format::date(&event.captured_at),
        method_words(&event.method)
    )
}

fn consent_panel(
    project: &Project,
    consent: &ConsentSummary,
    events: &[ConsentEventDoc],
) -> Markup {
    let language = consent.language.clone().unwrap_or_else(|| "en".into());
    let form = match (&consent.form_id, consent.form_version) {
        (Some(id), Some(v)) => project
            .form_items(id, v, &language)
            .map(|items| (id, v, items)),
        _ => None,
    };
    html! {
        aside.consent.card aria-labelledby="consent-heading" {
            h2 #consent-heading { "Consent" }
            @match consent.status {
                ConsentStatus::Active => p.status.active { "The storyteller's consent is in force." },
                ConsentStatus::None => p.status.missing { "No consent has been recorded for this story." },
                ConsentStatus::Withdrawn => p.status.missing { "Withdrawn." },
            }
            @if let Some((id, version, items)) = &form {
                p.form { "Form “" (id) "”, version " (version) ", read in " (format::language_name(&language)) "." }
                ul.items lang=(language) {
                    @for (key, _required, label) in items {
                        @let granted = consent.grants(key);
                        li.granted[granted].refused[!granted] {
                            span.answer lang="en" { @if granted { "Yes" } @else { "No" } }
                            span.label { (label) }
                        }
                    }
                }
            } @else if consent.status == ConsentStatus::Active {
                ul.items {
                    @for key in &consent.granted {
                        li.granted { span.answer { "Yes" } span.label { (format::item_short(key)) } }
                    }
                }
                p.hint { "The wording of this form version is not in the project's configuration." }
            }
            @if !events.is_empty() {
                h3 { "History" }
                ol.history { @for e in events { li { (event_words(e)) } } }
            }
        }
    }
}

/// Where a note plays from: the player of the delivered recording it is in (by number),
/// or none while that recording is not delivered. A note from a phone before notes
/// carried their recording is in the first recording.
/// One delivered copy of a recording, as the page offers it.
struct Copy {
    representation: Representation,
    format: Option<AudioFormat>,
    bytes: u64,
}

impl Copy {
    fn format_name(&self) -> &'static str {
        self.format.map_or("unknown format", |f| match f {
            AudioFormat::Wav => "WAV",
            AudioFormat::Flac => "FLAC",
            AudioFormat::OggOpus => "Opus",
        })
    }

    /// What the player plays, in plain words.
    fn label(&self) -> String {
        let format = self.format_name();
        match self.representation {
            Representation::Lossless => format!("Lossless ({format})"),
            Representation::Listening => format!("Listening copy (smaller, {format})"),
        }
    }

    /// A download link's words: the format first, then which copy and its size.
    fn download_label(&self, number: usize) -> String {
        let which = match self.representation {
            Representation::Lossless => "lossless",
            Representation::Listening => "listening copy",
        };
        format!(
            "Recording {number} ({}, {which}, {})",
            self.format_name(),
            format::size(self.bytes)
        )
    }

    /// The page's audio route for this copy of recording `id`.
    fn src(&self, id: &str, download: bool) -> String {
        let mut query = Vec::new();
        if self.representation != Representation::Lossless {
            query.push(format!("representation={}", self.representation));
        }
        if download {
            query.push("download=1".to_string());
        }
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        format!("/lead/recordings/{id}/audio{query}")
    }
}

/// The copies of `r` the server holds, lossless first. A recording from a phone before
/// issue 20 lists no representations: its one file is the WAV it describes.
fn copies(r: &RecordingMeta) -> Vec<Copy> {
    let mut out = Vec::new();
    for representation in Representation::ALL {
        let listed = r
            .representations
            .iter()
            .find(|m| m.representation == representation && m.delivered);
        match (representation, listed) {
            (_, Some(m)) => out.push(Copy {
                representation,
                format: AudioFormat::parse(&m.format),
                bytes: m.bytes,
            }),
            (Representation::Lossless, None) if r.delivered => out.push(Copy {
                representation,
                format: AudioFormat::parse(&r.format),
                bytes: r.bytes,
            }),
            _ => {}
        }
    }
    out
}

fn player_of(note: &NoteDoc, delivered: &[&RecordingMeta]) -> Option<(String, usize)> {
    let index = match &note.recording_id {
        Some(id) => delivered.iter().position(|r| &r.id == id)?,
        None if delivered.is_empty() => return None,
        None => 0,
    };
    Some((format!("player-{}", delivered[index].id), index + 1))
}

fn timeline_entry(
    note: &NoteDoc,
    project: &Project,
    player: Option<(String, usize)>,
    several: bool,
) -> Markup {
    let kind = if note.kind == "marker" {
        "Marker"
    } else {
        "Note"
    };
    let question = note
        .question_id
        .as_deref()
        .and_then(|q| project.question(q));
    let text = if note.text.is_empty() {
        question.clone().unwrap_or_default()
    } else {
        note.text.clone()
    };
    // A marker named after its question already shows the question's words.
    let question_shown_apart = question
        .as_deref()
        .is_some_and(|q| !note.text.is_empty() && note.text != q);
    html! {
        li.entry.marker[note.kind == "marker"] {
            @match (note.at_ms, player) {
                (Some(at), Some((player, number))) => {
                    button.seek type="button" data-player=(player) data-seek-ms=(at)
                        aria-label={ "Play "
                            @if several { "recording " (number) " " }
                            "from " (format::position_words(at)) ": " (kind) ", " (text) } {
                        span.at {
                            @if several { span.rec { "Rec. " (number) " · " } }
                            (format::position(at))
                        }
                        span.kind { (kind) }
                        span.text { (text) }
                    }
                }
                (at, _) => {
                    div.static {
                        span.at { @if let Some(at) = at { (format::position(at)) } @else { "—" } }
                        span.kind { (kind) }
                        span.text { (text) }
                    }
                }
            }
            @if let (Some(q), true) = (&question, question_shown_apart) {
                p.question { "Guide question: " (q) }
            }
        }
    }
}

pub fn story(project: &Project, doc: &StoryDocument, extras: &StoryExtras) -> Response {
    let consent = doc.consent.clone().unwrap_or_default();
    // What can be played: every recording with a copy delivered, the best copy first
    // (lossless, else the listening copy).
    let playable: Vec<(&RecordingMeta, Vec<Copy>)> = doc
        .recordings
        .iter()
        .map(|r| (r, copies(r)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let delivered: Vec<&RecordingMeta> = playable.iter().map(|(r, _)| *r).collect();
    let waiting = doc.recordings.len() - delivered.len();
    let several = delivered.len() > 1;
    let mut notes: Vec<(&NoteDoc, Option<(String, usize)>)> = doc
        .notes
        .iter()
        .map(|n| (n, player_of(n, &delivered)))
        .collect();
    // Recording by recording, each in audio order; notes without a position last.
    notes.sort_by_key(|(n, player)| {
        (
            n.at_ms.is_none(),
            player.as_ref().map_or(usize::MAX, |p| p.1),
            n.at_ms,
        )
    });
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/lead" { "← All stories" } }
        div.story-layout {
            article.story-main aria-labelledby="story-title" {
                h1 #story-title { (doc.title) }
                p.meta {
                    time datetime=(doc.created_at) { (format::date(&doc.created_at)) }
                    " · " (doc.storyteller.label)
                    " · reporter: " (extras.reporter)
                    " · " (doc.status)
                }
                @if let Some(identity) = &doc.identity {
                    @if let Some(name) = &identity.name { p.identity { "Credit as: " strong { (name) } } }
                    @if let Some(contact) = &identity.contact { p.identity { "Contact (may be recontacted): " (contact) } }
                }
                @if !doc.summary.is_empty() { p.summary { (doc.summary) } }
                @if !doc.tags.is_empty() {
                    ul.tags aria-label="Tags" { @for t in &doc.tags { li { (t) } } }
                }
                @if !doc.demographics.is_empty() {
                    dl.demographics {
                        @for (k, v) in &doc.demographics { dt { (k.replace('_', " ")) } dd { (v) } }
                    }
                }
                section.card aria-labelledby="listen" {
                    h2 #listen { "Listen" }
                    @if delivered.is_empty() {
                        p.empty { "No recording of this story has been delivered yet." }
                    }
                    @for (i, (r, copies)) in playable.iter().enumerate() {
                        @let best = &copies[0];
                        figure.recording {
                            audio #{ "player-" (r.id) } controls preload="metadata"
                                src=(best.src(&r.id, false))
                                aria-describedby={ "cap-" (r.id) } {
                                a href=(best.src(&r.id, true)) { "Download the recording" }
                            }
                            figcaption #{ "cap-" (r.id) } {
                                "Recording " (i + 1) " · " (format::position(r.duration_ms))
                                " · " (r.sample_rate / 1000) "." ((r.sample_rate % 1000) / 100) " kHz, "
                                @if r.channels == 1 { "mono" } @else { "stereo" }
                                br;
                                span.copy data-representation=(best.representation) { "Plays: " (best.label()) }
                                @if best.representation == Representation::Listening {
                                    " · the lossless copy has not arrived yet"
                                }
                            }
                        }
                    }
                    @if waiting > 0 {
                        p.hint { (waiting) " more recording(s) not delivered yet." }
                    }
                    p.visually-hidden #player-status role="status" aria-live="polite" {}
                }
                @for (i, r) in delivered.iter().enumerate() {
                    (super::transcript::section(&r.id, i + 1, several,
                        extras.transcripts.iter().find(|(id, _)| *id == r.id).map(|(_, s)| s)))
                }
                section.card aria-labelledby="timeline" {
                    h2 #timeline { "Markers and notes" }
                    @if notes.is_empty() {
                        p.empty { "The reporter added no markers or notes." }
                    } @else {
                        @if !delivered.is_empty() {
                            p.hint { "Choose a marker or a note to play its recording from there." }
                        }
                        ol.timeline {
                            @for (n, player) in &notes { (timeline_entry(n, project, player.clone(), several)) }
                        }
                    }
                }
            }
            div.side {
                (consent_panel(project, &consent, &extras.events))
                section.card.downloads aria-labelledby="downloads" {
                    h2 #downloads { "Downloads" }
                    ul {
                        @for (i, (r, copies)) in playable.iter().enumerate() {
                            @for copy in copies {
                                li { a href=(copy.src(&r.id, true)) download { (copy.download_label(i + 1)) } }
                            }
                        }
                        li { a href={ "/lead/stories/" (doc.id) "/story.json" } download { "The story (JSON)" } }
                        @if consent.grants(tellus_protocol::items::RECORD) {
                            li { a href={ "/lead/stories/" (doc.id) "/story.csv" } download { "The story (CSV row)" } }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        layout(&doc.title, Some(&project.name), content),
    )
}

/// What is left of a withdrawn story: that it existed and when it was withdrawn.
pub fn tombstone(project: &Project, withdrawn_at: Option<i64>) -> Response {
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/lead" { "← All stories" } }
        div.narrow {
            h1 { "This story was withdrawn" }
            div.notice.tombstone role="note" {
                p {
                    "The storyteller withdrew their consent"
                    @if let Some(at) = withdrawn_at { " on " (format::date_ms(at)) }
                    ". The server deleted the recording and the story's text; nothing of it can be played or exported."
                }
                p { strong { "If you hold a copy (a download, an export, notes), delete it now." } }
            }
        }
    };
    respond(
        StatusCode::GONE,
        layout("Withdrawn story", Some(&project.name), content),
    )
}
