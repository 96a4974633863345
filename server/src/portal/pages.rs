//! The portal's HTML (maud escapes every value). Plain forms, no script needed; landmarks,
//! labels on every control, and a layout that fits a 320 px wide screen.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use tellus_protocol::{ConsentEventDoc, ConsentKind, ConsentMethod, ConsentStatus, items};

use super::words::{LANGUAGES, Words, words};

/// Everything the story page shows.
pub use crate::data::portal::StorytellerStory as StoryView;

/// A notice at the top of a page, after a change.
#[derive(Clone, Copy)]
pub enum Notice {
    Saved,
    Unchanged,
    Withdrawn,
    Pending,
    Expired,
    StaleForm,
    TooMany,
    NotACode,
    Failed,
}

impl Notice {
    pub fn parse(text: &str) -> Option<Notice> {
        Some(match text {
            "saved" => Notice::Saved,
            "unchanged" => Notice::Unchanged,
            "withdrawn" => Notice::Withdrawn,
            "pending" => Notice::Pending,
            "expired" => Notice::Expired,
            _ => return None,
        })
    }

    fn text(self, w: &Words) -> (&'static str, bool) {
        match self {
            Notice::Saved => (w.saved, false),
            Notice::Unchanged => (w.unchanged, false),
            Notice::Withdrawn => (w.withdrawn_done, false),
            Notice::Pending => (w.pending_done, false),
            Notice::Expired => (w.expired, true),
            Notice::StaleForm => (w.stale_form, true),
            Notice::TooMany => (w.too_many, true),
            Notice::NotACode => (w.not_a_code, true),
            Notice::Failed => (w.failed, true),
        }
    }
}

fn notice(w: &Words, n: Option<Notice>) -> Markup {
    html! {
        @if let Some(n) = n {
            @let (text, error) = n.text(w);
            @if error {
                p.notice.error role="alert" { (text) }
            } @else {
                p.notice role="status" { (text) }
            }
        }
    }
}

pub(super) fn layout(w: &Words, path: &str, script: bool, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(w.lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (w.title) " · Tellus" }
                link rel="stylesheet" href="/s/assets/portal.css";
                @if script {
                    script src="/s/assets/portal.js" defer {}
                }
            }
            body {
                a.skip href="#main" { (w.skip) }
                header.top {
                    span.brand { "Tellus" }
                    nav aria-label=(w.language) {
                        ul.languages {
                            @for lang in LANGUAGES {
                                @let other = words(lang);
                                li {
                                    @if other.lang == w.lang {
                                        a href={ (path) "?lang=" (lang) } lang=(lang) hreflang=(lang) aria-current="true" { (other.name) }
                                    } @else {
                                        a href={ (path) "?lang=" (lang) } lang=(lang) hreflang=(lang) { (other.name) }
                                    }
                                }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (content) }
                footer.bottom { p { (w.footer) } }
            }
        }
    }
}

pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// The entry form; `csrf` is the double-submit token also set as a cookie.
pub fn entry(w: &Words, csrf: &str, shown: Option<Notice>) -> Markup {
    layout(
        w,
        "/s",
        true,
        html! {
            h1 { (w.entry_heading) }
            (notice(w, shown))
            p { (w.entry_lede) }
            form #code-form method="post" action="/s" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="lang" value=(w.lang);
                label for="code" { (w.code_label) }
                p.hint #code-hint { (w.code_hint) }
                input #code type="text" name="code" required autocomplete="off"
                    autocapitalize="characters" spellcheck="false" maxlength="64"
                    aria-describedby="code-hint";
                button.primary type="submit" { (w.open) }
            }
        },
    )
}

/// What an entered code that opens no story gets, known or not: the same words, and the
/// offer to withdraw whatever story it will open.
pub fn not_opened(w: &Words, csrf: &str) -> Markup {
    layout(
        w,
        "/s",
        false,
        html! {
            h1 { (w.not_opened_heading) }
            p { (w.not_opened_text) }
            (withdraw_form(w, csrf, w.not_opened_withdraw))
            p { a href={ "/s?lang=" (w.lang) } { (w.try_again) } }
        },
    )
}

fn withdraw_form(w: &Words, csrf: &str, button: &str) -> Markup {
    html! {
        form.card method="post" action="/s/withdraw" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="lang" value=(w.lang);
            fieldset {
                legend { (w.erase_legend) }
                div.choice {
                    input #erase-yes type="radio" name="erase" value="yes" checked;
                    label for="erase-yes" { (w.erase_yes) }
                }
                div.choice {
                    input #erase-no type="radio" name="erase" value="no";
                    label for="erase-no" { (w.erase_no) }
                }
            }
            button.danger type="submit" { (button) }
        }
    }
}

/// A notice alone (a refused form, too many attempts), with a way back.
pub fn message(w: &Words, shown: Notice) -> Markup {
    layout(
        w,
        "/s",
        false,
        html! {
            h1 { (w.title) }
            (notice(w, Some(shown)))
            p { a href={ "/s?lang=" (w.lang) } { (w.try_again) } }
        },
    )
}

fn date(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

fn event_line(w: &Words, e: &ConsentEventDoc) -> Markup {
    let what = match e.kind {
        ConsentKind::Given => w.given,
        ConsentKind::Amended => w.amended,
        ConsentKind::Withdrawn => w.withdrawn,
    };
    let by = match e.method {
        ConsentMethod::Storyteller => w.by_you,
        _ => w.with_reporter,
    };
    html! {
        li { time datetime=(e.captured_at) { (date(&e.captured_at)) } " · " (what) " (" (by) ")" }
    }
}

/// The story's page: what was agreed and when, its history, and what can be changed.
pub fn story(w: &Words, view: &StoryView, csrf: &str, shown: Option<Notice>) -> Markup {
    let lang = w.lang;
    let given_at = view
        .events
        .iter()
        .rev()
        .find(|e| e.kind == ConsentKind::Given)
        .map(|e| e.captured_at.as_str());
    let active = view.consent.status == ConsentStatus::Active;
    let narrowable: Vec<_> = view
        .form
        .iter()
        .flat_map(|f| f.items.iter())
        .filter(|i| i.key != items::RECORD && view.consent.grants(&i.key))
        .collect();
    layout(
        w,
        "/s/story",
        false,
        html! {
            h1 { (w.title) }
            (notice(w, shown))
            p { (w.project) ": " strong { (view.project_name) } }
            @if !active {
                p.notice.error { (w.withdrawn_status) }
            }
            section aria-labelledby="agreed" {
                h2 #agreed { (w.agreed_heading) }
                @if let Some(at) = given_at {
                    p { (w.agreed_on) " " time datetime=(at) { (date(at)) } }
                }
                @if let Some(form) = &view.form {
                    @if let Some(intro) = form.intro.get(lang).or_else(|| form.intro.get("en")) {
                        blockquote { p { (intro) } }
                    }
                    ul.items {
                        @for item in &form.items {
                            @let yes = view.consent.grants(&item.key);
                            li.item {
                                span.label { (item.label_in(lang)) }
                                @if yes {
                                    strong.yes { (w.yes) }
                                } @else {
                                    strong.no { (w.no) }
                                }
                            }
                        }
                    }
                }
            }
            @if active {
                section aria-labelledby="listen" {
                    h2 #listen { (w.listen_heading) }
                    @if view.recordings.is_empty() {
                        p { (w.no_recording) }
                    }
                    @for (n, id) in view.recordings.iter().enumerate() {
                        p {
                            span #{ "rec-" (n) } { (w.recording) " " (n + 1) }
                            br;
                            audio controls preload="none" src={ "/s/audio/" (id) } aria-labelledby={ "rec-" (n) } {}
                            @if view.transcribed.contains(id) {
                                br;
                                a href={ "/s/transcript/" (id) "?lang=" (w.lang) } { (w.transcript_link) }
                            }
                        }
                    }
                }
                section aria-labelledby="narrow" {
                    h2 #narrow { (w.narrow_heading) }
                    @if narrowable.is_empty() {
                        p { (w.nothing_to_narrow) }
                    } @else {
                        form.card method="post" action="/s/narrow" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="lang" value=(lang);
                            p { (w.narrow_text) }
                            @for item in &narrowable {
                                div.choice {
                                    input id={ "keep-" (item.key) } type="checkbox" name={ "keep_" (item.key) } value="yes" checked;
                                    label for={ "keep-" (item.key) } { (item.label_in(lang)) }
                                }
                            }
                            button.primary type="submit" { (w.narrow_button) }
                        }
                    }
                    p.hint { (w.record_fixed) }
                }
                section aria-labelledby="withdraw" {
                    h2 #withdraw { (w.withdraw_heading) }
                    p { (w.withdraw_text) }
                    (withdraw_form(w, csrf, w.withdraw_button))
                }
            }
            section aria-labelledby="history" {
                h2 #history { (w.history_heading) }
                ol.history {
                    @for e in &view.events { (event_line(w, e)) }
                }
            }
            form method="post" action="/s/leave" {
                input type="hidden" name="csrf" value=(csrf);
                button.link type="submit" { (w.leave) }
            }
        },
    )
}
