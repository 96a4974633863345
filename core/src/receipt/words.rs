//! The receipt's own words (its headings and the two answers), by language. The form's
//! words come from the form itself; these frame them. A language not listed here gets
//! English frame words around the form's own text in the storyteller's language.

pub(super) struct Words {
    pub title: &'static str,
    pub project: &'static str,
    pub contact: &'static str,
    /// Used when the project gave no contact: the reporter's name follows.
    pub ask_reporter: &'static str,
    pub date: &'static str,
    pub changed: &'static str,
    pub story: &'static str,
    pub name: &'static str,
    pub agreed_heading: &'static str,
    pub granted: &'static str,
    pub not_granted: &'static str,
    pub required: &'static str,
    pub code_heading: &'static str,
    pub code_help: &'static str,
    pub link_help: &'static str,
    pub no_link: &'static str,
}

const EN: Words = Words {
    title: "Your consent receipt",
    project: "Project",
    contact: "Contact",
    ask_reporter: "ask the reporter who recorded your story:",
    date: "Date",
    changed: "Last changed",
    story: "Story",
    name: "Name",
    agreed_heading: "What you agreed to",
    granted: "Yes",
    not_granted: "No",
    required: "required",
    code_heading: "Your personal code",
    code_help: "Keep this code private. With it you can see what you agreed to, take back any part of it or withdraw your story, at any time, without asking anyone.",
    link_help: "Open this link or scan the code, then enter your personal code:",
    no_link: "Ask the project for the address where you can use your code.",
};

const ES: Words = Words {
    title: "Su comprobante de consentimiento",
    project: "Proyecto",
    contact: "Contacto",
    ask_reporter: "pregunte a la persona reportera que grabó su historia:",
    date: "Fecha",
    changed: "Último cambio",
    story: "Historia",
    name: "Nombre",
    agreed_heading: "Lo que usted aceptó",
    granted: "Sí",
    not_granted: "No",
    required: "obligatorio",
    code_heading: "Su código personal",
    code_help: "Guarde este código en privado. Con él puede ver lo que aceptó, retirar cualquier parte o retirar su historia entera, en cualquier momento, sin pedírselo a nadie.",
    link_help: "Abra este enlace o escanee el código y luego escriba su código personal:",
    no_link: "Pida al proyecto la dirección donde puede usar su código.",
};

/// The frame words for `language` ("es", "es-MX" → Spanish), English otherwise.
pub(super) fn words(language: &str) -> &'static Words {
    let primary = language.split(['-', '_']).next().unwrap_or_default();
    match primary.to_ascii_lowercase().as_str() {
        "es" => &ES,
        _ => &EN,
    }
}
