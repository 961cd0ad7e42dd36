# mail
mail-hello = Hello,
mail-invite-subject = { $inviter } invited you to { $workspace } on amolink
mail-invite-intro = { $inviter } invited you to join the workspace "{ $workspace }" on amolink as { $role ->
    [owner] an owner
    [admin] an admin
    [developer] a developer
   *[viewer] a viewer
}.
mail-invite-accept = Accept the invitation here (the link works once, until { $expires }):
mail-invite-account = If you already have an amolink account with this address, you will add the workspace to it; otherwise you will choose a password for a new account.
mail-invite-ignore = If you did not expect this invitation, you can ignore this e-mail.
mail-reset-subject = Reset your amolink password
mail-reset-intro = Someone (hopefully you) asked to reset the password of the amolink account with this address.
mail-reset-link = Choose a new password here (the link works once, until { $expires }):
mail-reset-signs-out = Setting a new password signs out every session of the account.
mail-reset-ignore = If you did not ask for this, you can ignore this e-mail: your password stays as it is.
