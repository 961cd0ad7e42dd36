# connect
connect-title = Connect
connect-secured = Secured by amolink
connect-page-title = Connect { $platform }
connect-heading = Connect your { $platform } account
connect-asks = asks to connect to your { $platform } account.
connect-admin-only = Only an administrator of the { $platform } account can connect it. { $platform } will show what the integration may access before you allow it.
connect-demo = Demo mode: this button opens amolink's built-in amoCRM simulator, so you can try the whole flow without an amoCRM account.
connect-done-title = Connected
connect-failed-title = Not connected
connect-done-heading = { $account } is connected
connect-done-text = All set. You can close this window or go back to the site you came from.
connect-failed-heading = The connection was not completed
connect-failed-text = Something went wrong while connecting. Start again from the connect page.
connect-declined-title = Not connected
connect-declined-heading = Nothing was connected
connect-declined-text = You declined the request on the amoCRM consent page, so no access was granted. You can close this window, or go back and start again.
