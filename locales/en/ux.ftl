# What a new user tripped on (issue 12): connect outcomes, confirmations, flash messages,
# inline form errors.

## The hosted connect page and its result pages
connect-status-declined = You declined the request in { $platform }, so nothing was connected. You can try again whenever you like.
connect-status-error = { $platform } did not grant access. Only an administrator of the { $platform } account can connect it: ask one to open this page, or try again.
connect-status-closed = The { $platform } window closed before access was granted. Only an administrator of the { $platform } account can connect it: ask one to open this page, or try again.
connect-back = Back to { $host }

## Confirmations before destructive actions
confirm-revoke-connection = Revoke the connection to { $account }? amolink destroys its tokens at once; the account must connect again to be used.
confirm-revoke-key = Revoke the key “{ $name }”? Requests that present it are refused from now on.
confirm-delete-endpoint = Delete this endpoint and its delivery log? No more events will be sent to it.

## One-time messages after an action
flash-connection_revoked = Connection revoked. amolink no longer holds its tokens; the account can connect again from your connect link.
flash-api_key_created = API key created. Copy it now: it is shown only this once.
flash-api_key_revoked = API key revoked. Requests that present it are refused from now on.
flash-endpoint_created = Webhook endpoint added.
flash-endpoint_deleted = Webhook endpoint deleted. No more events will be sent to it.
flash-test_event_sent = Test event queued: it is delivered to the endpoint within seconds; see the deliveries below.
flash-button_saved = Connect button saved.
flash-button_deleted = Connect button deleted. Its connect link and embed no longer work; existing connections stay.

## Sign-up
signup-check-fields = Please check the highlighted fields.
signup-maybe-registered = An account could not be created with this e-mail. If you already have one, log in or reset your password.
signup-log-in = Log in
signup-reset = Reset your password

## Editing and deleting connect buttons
button-edit = Edit button
button-edit-lead = Changes apply at once to this button's connect link and embed snippet; their address stays the same.
button-save = Save button
button-delete = Delete button
button-delete-lead = The connect link and embed stop working. Accounts already connected through this button stay connected and keep working.
confirm-delete-button = Delete the button “{ $name }”? Its connect link and embed stop working; existing connections stay.
dash-no-buttons = This workspace has no connect button, so there is no connect link to share. Add one below.

## Test events for a webhook endpoint
hooks-test = Send test event
hooks-test-lead = Sends a signed webhook.test event to this endpoint now, so you can check your receiver and its signature verification.
hooks-test-disabled = Enable the endpoint to send it a test event.
