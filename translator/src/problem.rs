//! What went wrong with the input, said so a user can find and fix it:
//! the file, the object (kind namespace/name) and the field.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The object (or the part of it) is left out; others still work.
    Error,
    /// Served, but not as the user may expect (e.g. routes answer 500).
    Warning,
}

/// Where a document came from: a file and the line its document starts on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// `Backend default/azure-openai`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Why something cannot serve: an error in the object itself, or a warning
/// about something it refers to (a Secret) that is missing.
pub type Unavailable = Box<Problem>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub origin: Option<Origin>,
    pub object: Option<ObjectRef>,
    /// A dotted path into the object, e.g. `spec.ai.llm.azureopenai.apiVersion`.
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn error(message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Error,
            origin: None,
            object: None,
            field: None,
            message: message.into(),
        }
    }
    pub fn warning(message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(message)
        }
    }
    pub fn at(mut self, origin: &Origin) -> Self {
        self.origin = Some(origin.clone());
        self
    }
    pub fn object(mut self, object: ObjectRef) -> Self {
        self.object = Some(object);
        self
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = if field.is_empty() || field == "." {
            None
        } else {
            Some(field)
        };
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.severity {
            Severity::Error => "error: ",
            Severity::Warning => "warning: ",
        })?;
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        // One line per problem, whatever the underlying error printed.
        f.write_str(&self.message.replace('\n', " "))
    }
}
