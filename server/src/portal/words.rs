//! The portal's own words, in the languages of the sample consent form (English and
//! Spanish). The consent form's wording itself comes from the project's form, in the
//! language chosen here when the form has it.

/// Languages the portal speaks, first the default.
pub const LANGUAGES: &[&str] = &["en", "es"];

pub struct Words {
    pub lang: &'static str,
    pub name: &'static str,
    pub language: &'static str,
    pub title: &'static str,
    pub skip: &'static str,
    pub entry_heading: &'static str,
    pub entry_lede: &'static str,
    pub code_label: &'static str,
    pub code_hint: &'static str,
    pub open: &'static str,
    pub not_a_code: &'static str,
    pub not_opened_heading: &'static str,
    pub not_opened_text: &'static str,
    pub not_opened_withdraw: &'static str,
    pub try_again: &'static str,
    pub too_many: &'static str,
    pub agreed_heading: &'static str,
    pub agreed_on: &'static str,
    pub project: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub withdrawn_status: &'static str,
    pub history_heading: &'static str,
    pub given: &'static str,
    pub amended: &'static str,
    pub withdrawn: &'static str,
    pub with_reporter: &'static str,
    pub by_you: &'static str,
    pub narrow_heading: &'static str,
    pub narrow_text: &'static str,
    pub narrow_button: &'static str,
    pub record_fixed: &'static str,
    pub nothing_to_narrow: &'static str,
    pub withdraw_heading: &'static str,
    pub withdraw_text: &'static str,
    pub erase_yes: &'static str,
    pub erase_no: &'static str,
    pub erase_legend: &'static str,
    pub withdraw_button: &'static str,
    pub listen_heading: &'static str,
    pub no_recording: &'static str,
    pub recording: &'static str,
    pub leave: &'static str,
    pub saved: &'static str,
    pub unchanged: &'static str,
    pub withdrawn_done: &'static str,
    pub pending_done: &'static str,
    pub expired: &'static str,
    pub stale_form: &'static str,
    pub failed: &'static str,
    pub footer: &'static str,
    pub transcript_link: &'static str,
    pub transcript_heading: &'static str,
    pub transcript_thanks: &'static str,
    pub transcript_lede: &'static str,
    pub transcript_machine: &'static str,
    pub transcript_said: &'static str,
    pub transcript_suggest: &'static str,
}

const EN: Words = Words {
    lang: "en",
    name: "English",
    language: "Language",
    title: "Your story",
    skip: "Skip to the content",
    entry_heading: "See or change your consent",
    entry_lede: "Type the personal code from your receipt. You do not need an account.",
    code_label: "Your personal code",
    code_hint: "20 letters and numbers, as on your receipt. Spaces, dashes and capitals do not matter.",
    open: "Open",
    not_a_code: "That is not a personal code. It has 20 letters and numbers, as on your receipt.",
    not_opened_heading: "No story can be opened with this code",
    not_opened_text: "Check the code on your receipt and try again. If your story has not reached the project yet (the reporter's phone may not have sent it), you can still ask for it to be withdrawn: it will be withdrawn the moment it arrives, before anything of it is kept.",
    not_opened_withdraw: "Ask for the story with this code to be withdrawn",
    try_again: "Try another code",
    too_many: "Too many attempts from this network or with this code. Wait a few minutes, then try again.",
    agreed_heading: "What you agreed to",
    agreed_on: "Agreed on",
    project: "Project",
    yes: "Yes",
    no: "No",
    withdrawn_status: "You have withdrawn this story. The project keeps nothing of it but a note that it was withdrawn, and everyone holding a copy is told to delete it.",
    history_heading: "History",
    given: "Consent given",
    amended: "Consent changed",
    withdrawn: "Withdrawn",
    with_reporter: "with the reporter",
    by_you: "by you, on this page",
    narrow_heading: "Take back part of your consent",
    narrow_text: "Untick what you no longer agree to, then save. Here you can only take things back; to agree to more, ask the project.",
    narrow_button: "Save my changes",
    record_fixed: "The recording itself stays as long as the story does. To stop that, withdraw the story below.",
    nothing_to_narrow: "There is nothing left to take back here, apart from withdrawing the story.",
    withdraw_heading: "Withdraw your story",
    withdraw_text: "The project stops using your story, deletes it from its server, and everyone holding a copy is told to delete it. This cannot be undone here.",
    erase_legend: "Your recording",
    erase_yes: "Erase the recording everywhere, also on the reporter's phone",
    erase_no: "The project deletes its copies; the reporter's phone may keep the recording",
    withdraw_button: "Withdraw my story",
    listen_heading: "Listen to your recording",
    no_recording: "Your recording has not reached the project yet.",
    recording: "Recording",
    leave: "Close",
    saved: "Your change is saved.",
    unchanged: "Nothing was changed.",
    withdrawn_done: "Your story is withdrawn.",
    pending_done: "Your request is recorded. If a story with this code reaches the project, it will be withdrawn at once.",
    expired: "This page closed for your safety. Enter your code again.",
    stale_form: "This form is too old or came from another site. Open the page again and retry.",
    failed: "This did not work. Please try again later.",
    footer: "Your code is never kept by this page. Close it when you are done.",
    transcript_link: "Read the text and suggest corrections",
    transcript_heading: "What was written down",
    transcript_thanks: "Thank you. The project will look at your suggestion.",
    transcript_lede: "This is the text of your recording, passage by passage. If a passage is wrong, write what you said and send it: the project's team will look at it.",
    transcript_machine: "The text was made by a computer and may have mistakes.",
    transcript_said: "What I said",
    transcript_suggest: "Suggest this",
};

const ES: Words = Words {
    lang: "es",
    name: "Español",
    language: "Idioma",
    title: "Su historia",
    skip: "Ir al contenido",
    entry_heading: "Ver o cambiar su consentimiento",
    entry_lede: "Escriba el código personal de su recibo. No necesita una cuenta.",
    code_label: "Su código personal",
    code_hint: "20 letras y números, como en su recibo. No importan los espacios, los guiones ni las mayúsculas.",
    open: "Abrir",
    not_a_code: "Eso no es un código personal. Tiene 20 letras y números, como en su recibo.",
    not_opened_heading: "No se puede abrir ninguna historia con este código",
    not_opened_text: "Compruebe el código de su recibo e inténtelo de nuevo. Si su historia aún no ha llegado al proyecto (puede que el teléfono de la persona reportera no la haya enviado), puede pedir ya que se retire: se retirará en cuanto llegue, antes de guardar nada de ella.",
    not_opened_withdraw: "Pedir que se retire la historia con este código",
    try_again: "Probar otro código",
    too_many: "Demasiados intentos desde esta red o con este código. Espere unos minutos y vuelva a intentarlo.",
    agreed_heading: "Lo que usted aceptó",
    agreed_on: "Aceptado el",
    project: "Proyecto",
    yes: "Sí",
    no: "No",
    withdrawn_status: "Usted ha retirado esta historia. El proyecto solo guarda una nota de que se retiró, y se pide a quien tenga una copia que la borre.",
    history_heading: "Historial",
    given: "Consentimiento dado",
    amended: "Consentimiento cambiado",
    withdrawn: "Retirada",
    with_reporter: "con la persona reportera",
    by_you: "por usted, en esta página",
    narrow_heading: "Retirar parte de su consentimiento",
    narrow_text: "Desmarque lo que ya no acepta y guarde. Aquí solo puede retirar; para aceptar más, pregunte al proyecto.",
    narrow_button: "Guardar mis cambios",
    record_fixed: "La grabación se mantiene mientras se mantenga la historia. Para evitarlo, retire la historia más abajo.",
    nothing_to_narrow: "Aquí no queda nada que retirar, salvo retirar la historia.",
    withdraw_heading: "Retirar su historia",
    withdraw_text: "El proyecto deja de usar su historia, la borra de su servidor y se pide a quien tenga una copia que la borre. Esto no se puede deshacer aquí.",
    erase_legend: "Su grabación",
    erase_yes: "Borrar la grabación en todas partes, también en el teléfono de la persona reportera",
    erase_no: "El proyecto borra sus copias; el teléfono de la persona reportera puede guardar la grabación",
    withdraw_button: "Retirar mi historia",
    listen_heading: "Escuchar su grabación",
    no_recording: "Su grabación aún no ha llegado al proyecto.",
    recording: "Grabación",
    leave: "Cerrar",
    saved: "Su cambio está guardado.",
    unchanged: "No se cambió nada.",
    withdrawn_done: "Su historia está retirada.",
    pending_done: "Su petición está registrada. Si una historia con este código llega al proyecto, se retirará en el acto.",
    expired: "Esta página se cerró por su seguridad. Escriba su código de nuevo.",
    stale_form: "Este formulario es demasiado antiguo o viene de otro sitio. Abra la página de nuevo y vuelva a intentarlo.",
    failed: "Esto no funcionó. Inténtelo de nuevo más tarde.",
    footer: "Esta página nunca guarda su código. Ciérrela cuando termine.",
    transcript_link: "Leer el texto y proponer correcciones",
    transcript_heading: "Lo que se escribió",
    transcript_thanks: "Gracias. El proyecto revisará su propuesta.",
    transcript_lede: "Este es el texto de su grabación, pasaje por pasaje. Si un pasaje está mal, escriba lo que dijo y envíelo: el equipo del proyecto lo revisará.",
    transcript_machine: "El texto lo hizo un ordenador y puede tener errores.",
    transcript_said: "Lo que dije",
    transcript_suggest: "Proponer esto",
};

/// The portal's words in `lang`, English when it has none.
pub fn words(lang: &str) -> &'static Words {
    match lang {
        "es" => &ES,
        _ => &EN,
    }
}

/// The language to speak: `asked` (the page's `lang` parameter) if the portal has it,
/// else the first of `Accept-Language` it has, else `fallback` (the consent's
/// language), else English.
pub fn choose(
    asked: Option<&str>,
    accept_language: Option<&str>,
    fallback: Option<&str>,
) -> &'static str {
    let known = |tag: &str| {
        let primary = tag
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        LANGUAGES.iter().copied().find(|l| *l == primary)
    };
    if let Some(l) = asked.and_then(known) {
        return l;
    }
    if let Some(l) = fallback.and_then(known) {
        return l;
    }
    let mut offered: Vec<(f32, &str)> = accept_language
        .unwrap_or_default()
        .split(',')
        .filter_map(|part| {
            let mut bits = part.split(';');
            let tag = bits.next()?.trim();
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, tag))
        })
        .collect();
    offered.sort_by(|a, b| b.0.total_cmp(&a.0));
    offered
        .into_iter()
        .find_map(|(_, tag)| known(tag))
        .unwrap_or(LANGUAGES[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_is_asked_then_the_consents_then_the_browsers() {
        assert_eq!(choose(Some("es"), Some("en"), Some("en")), "es");
        assert_eq!(choose(Some("xx"), None, Some("es-MX")), "es");
        assert_eq!(
            choose(None, Some("fr;q=0.9, es;q=0.8, en;q=0.1"), None),
            "es"
        );
        assert_eq!(choose(None, Some("fr"), None), "en");
        assert_eq!(words("es").yes, "Sí");
        assert_eq!(words("de").lang, "en");
    }
}
