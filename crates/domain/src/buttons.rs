//! Adding connect buttons on behalf of a member: the connect service makes the button, and the
//! audit trail records who added it. (The connect service itself knows nothing of people.)

use crate::{
    Error,
    audit::{Audit, AuditAction, AuditTarget, Principal, detail},
    connect::{Button, ButtonSettings, ConnectService},
    ids::{ButtonId, WorkspaceId},
};

/// A workspace's buttons as its members manage them.
#[derive(Clone)]
pub struct Buttons {
    connect: ConnectService,
    audit: Audit,
}

impl Buttons {
    #[must_use]
    pub const fn new(connect: ConnectService, audit: Audit) -> Self {
        Self { connect, audit }
    }

    /// The audit entry for `action` on `button`: its name, platform and key.
    async fn record(
        &self,
        workspace: WorkspaceId,
        by: &Principal,
        action: AuditAction,
        button: &Button,
    ) {
        self.audit
            .record(
                Some(workspace),
                by,
                action,
                Some(AuditTarget::new(
                    "button",
                    button.id,
                    button.settings.name.as_str(),
                )),
                Some(detail([
                    ("platform", &button.settings.platform.to_string()),
                    ("key", &button.key.to_string()),
                ])),
            )
            .await;
    }

    /// Adds a button to the workspace.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn create(
        &self,
        workspace: WorkspaceId,
        settings: ButtonSettings,
        by: &Principal,
    ) -> Result<Button, Error> {
        let button = self.connect.create_button(workspace, settings).await?;
        self.record(workspace, by, AuditAction::ButtonCreated, &button)
            .await;
        Ok(button)
    }

    /// The workspace's button `id` (for its edit form).
    ///
    /// # Errors
    /// [`Error::NotFound`] for another workspace's or an unknown id; storage failures.
    pub async fn get(&self, workspace: WorkspaceId, id: ButtonId) -> Result<Button, Error> {
        self.connect.button(workspace, id).await
    }

    /// Saves new settings for a button; its key (connect link, embed) stays.
    ///
    /// # Errors
    /// [`Error::NotFound`] for another workspace's or an unknown id; storage failures.
    pub async fn update(
        &self,
        workspace: WorkspaceId,
        id: ButtonId,
        settings: ButtonSettings,
        by: &Principal,
    ) -> Result<Button, Error> {
        let button = self.connect.update_button(workspace, id, settings).await?;
        self.record(workspace, by, AuditAction::ButtonUpdated, &button)
            .await;
        Ok(button)
    }

    /// Deletes a button. Its connect link and embed stop working; connections made through it
    /// stay and keep working.
    ///
    /// # Errors
    /// [`Error::NotFound`] for another workspace's or an unknown id; storage failures.
    pub async fn delete(
        &self,
        workspace: WorkspaceId,
        id: ButtonId,
        by: &Principal,
    ) -> Result<(), Error> {
        let button = self.connect.delete_button(workspace, id).await?;
        self.record(workspace, by, AuditAction::ButtonDeleted, &button)
            .await;
        Ok(())
    }
}
