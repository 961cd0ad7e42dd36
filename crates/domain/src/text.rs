//! Enums whose values travel as text — stored in columns, sent in URLs and the API — declared
//! once: `strum` derives the text forms from the variant names (`snake_case`, or a variant's own
//! `#[strum(serialize = "…")]`), [`text_enum!`] adds `as_str` and makes unknown text a
//! [`crate::ValidationError`] of the caller's choosing.

/// Declares a text enum; see the module docs.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident),+ $(,)?
        }
        unknown($text:ident) => $error:expr;
    ) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            strum::Display,
            strum::EnumString,
            strum::IntoStaticStr,
            strum::VariantArray,
        )]
        #[strum(
            serialize_all = "snake_case",
            parse_err_ty = crate::ValidationError,
            parse_err_fn = Self::unknown_text
        )]
        $vis enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// The text form (the one stored and sent).
            #[must_use]
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            fn unknown_text($text: &str) -> crate::ValidationError {
                $error
            }
        }
    };
}

pub(crate) use text_enum;
