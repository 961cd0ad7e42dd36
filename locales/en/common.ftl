# The layout: navigation, the language switch, the footer, roles, statuses, shared words.
nav-main = Main
nav-dashboard = Dashboard
nav-connections = Connections
nav-api-keys = API keys
nav-webhooks = Webhooks
nav-events = amoCRM events
nav-team = Team
nav-audit = Audit log
nav-workspace = Workspace
nav-switch = Switch
nav-account = Account
nav-log-out = Log out
nav-log-in = Log in
nav-sign-up = Sign up
footer-tagline = amolink — amoCRM & Kommo connections for your product
lang-switch-label = Language
copy = Copy
copied = Copied
none = —
role-owner = owner
role-admin = admin
role-developer = developer
role-viewer = viewer
connections-count = { $count ->
    [one] { $count } connection
   *[other] { $count } connections
}
revoke = Revoke
