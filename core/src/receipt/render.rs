//! The receipt as plain text and as a printable, self-contained HTML page (inline CSS and
//! an inline SVG QR code; nothing fetched). Every piece of text is escaped: titles,
//! names and the project's own words may hold anything.

use std::fmt::Write;

use super::words::Words;
use crate::error::Result;
use crate::model::{ConsentForm, Timestamp};

/// What a receipt says, gathered by `Store::consent_receipt`.
pub(super) struct Facts<'a> {
    pub words: &'static Words,
    pub project_name: &'a str,
    pub contact: Option<&'a str>,
    pub reporter: &'a str,
    pub given_on: Timestamp,
    pub changed_on: Option<Timestamp>,
    pub story_title: &'a str,
    pub name: Option<&'a str>,
    pub form: &'a ConsentForm,
    pub language: &'a str,
    /// Each item of the form with whether it is granted now.
    pub choices: Vec<(&'a str, bool, bool)>,
    pub code_display: &'a str,
    pub portal_url: Option<&'a str>,
}

fn day(t: Timestamp) -> String {
    t.to_string().chars().take(10).collect()
}

impl Facts<'_> {
    fn contact_line(&self) -> String {
        match self.contact {
            Some(contact) => contact.to_string(),
            None => format!("{} {}", self.words.ask_reporter, self.reporter),
        }
    }

    fn intro(&self) -> &str {
        self.form.intro.get(self.language).map_or("", |t| t.trim())
    }

    fn answer(&self, granted: bool) -> &'static str {
        if granted {
            self.words.granted
        } else {
            self.words.not_granted
        }
    }

    pub fn text(&self) -> String {
        let w = self.words;
        let mut out = String::new();
        let _ = writeln!(out, "{}", w.title);
        let _ = writeln!(out, "{}", "=".repeat(w.title.chars().count()));
        let _ = writeln!(out, "{}: {}", w.project, self.project_name);
        let _ = writeln!(out, "{}: {}", w.contact, self.contact_line());
        let _ = writeln!(out, "{}: {}", w.date, day(self.given_on));
        if let Some(changed) = self.changed_on {
            let _ = writeln!(out, "{}: {}", w.changed, day(changed));
        }
        let _ = writeln!(out, "{}: {}", w.story, self.story_title);
        if let Some(name) = self.name {
            let _ = writeln!(out, "{}: {}", w.name, name);
        }
        let _ = writeln!(out, "\n{}\n", w.agreed_heading);
        let _ = writeln!(out, "{}\n", self.intro());
        for (label, required, granted) in &self.choices {
            let mark = if *granted { "[x]" } else { "[ ]" };
            let req = if *required {
                format!(" ({})", w.required)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{mark} {}: {}{req}",
                self.answer(*granted),
                label.trim()
            );
        }
        let _ = writeln!(out, "\n{}: {}", w.code_heading, self.code_display);
        let _ = writeln!(out, "{}", w.code_help);
        match self.portal_url {
            Some(url) => {
                let _ = writeln!(out, "{}\n{url}", w.link_help);
            }
            None => {
                let _ = writeln!(out, "{}", w.no_link);
            }
        }
        out
    }

    pub fn html(&self) -> Result<String> {
        let w = self.words;
        let e = escape;
        let mut out = String::new();
        let _ = write!(
            out,
            concat!(
                "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n",
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
                "<title>{title} – {project}</title>\n<style>\n",
                "body{{font-family:system-ui,sans-serif;max-width:40em;margin:1em auto;padding:0 1em;line-height:1.45;color:#111;background:#fff}}\n",
                "h1{{font-size:1.4em}} dl{{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2em 1em}} dt{{font-weight:bold}} dd{{margin:0;overflow-wrap:anywhere}}\n",
                "ul.choices{{list-style:none;padding:0}} ul.choices li{{margin:.4em 0}} .answer{{font-weight:bold}}\n",
                ".code{{font-family:ui-monospace,monospace;font-size:1.5em;letter-spacing:.08em;font-weight:bold}}\n",
                ".qr svg{{width:14em;height:auto}} .link{{word-break:break-all}}\n",
                "@media print{{body{{margin:0}} .qr svg{{width:6cm}}}}\n",
                "</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n<dl>\n"
            ),
            lang = e(self.language),
            title = e(w.title),
            project = e(self.project_name),
        );
        let mut row = |term: &str, value: &str| {
            let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", e(term), e(value));
        };
        row(w.project, self.project_name);
        row(w.contact, &self.contact_line());
        row(w.date, &day(self.given_on));
        if let Some(changed) = self.changed_on {
            row(w.changed, &day(changed));
        }
        row(w.story, self.story_title);
        if let Some(name) = self.name {
            row(w.name, name);
        }
        let _ = writeln!(
            out,
            "</dl>\n<h2>{}</h2>\n<p>{}</p>\n<ul class=\"choices\">",
            e(w.agreed_heading),
            e(self.intro())
        );
        for (label, required, granted) in &self.choices {
            let mark = if *granted { "☑" } else { "☐" };
            let req = if *required {
                format!(" ({})", e(w.required))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "<li><span aria-hidden=\"true\">{mark}</span> <span class=\"answer\">{}</span>: {}{req}</li>",
                e(self.answer(*granted)),
                e(label.trim())
            );
        }
        let _ = writeln!(
            out,
            "</ul>\n<h2>{}</h2>\n<p class=\"code\">{}</p>\n<p>{}</p>",
            e(w.code_heading),
            e(self.code_display),
            e(w.code_help)
        );
        match self.portal_url {
            Some(url) => {
                let qr = super::qr::svg(url, 240, &e(w.link_help))?;
                // A link to tap when the receipt is shared as a file; printed, its text.
                let _ = writeln!(
                    out,
                    "<p>{}</p>\n<p class=\"link\"><a href=\"{url}\" rel=\"noreferrer\">{url}</a></p>\n<div class=\"qr\">{qr}</div>",
                    e(w.link_help),
                    url = e(url)
                );
            }
            None => {
                let _ = writeln!(out, "<p>{}</p>", e(w.no_link));
            }
        }
        out.push_str("</main>\n</body>\n</html>\n");
        Ok(out)
    }
}

/// Text as HTML text or attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
