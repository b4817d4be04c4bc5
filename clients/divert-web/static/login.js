/* divert-web — the login page: send the name and password, then go to
   the desk of the user's role (each role has exactly one). */
'use strict';

(function () {
    var form = document.getElementById('login');
    var button = document.getElementById('submit');

    // Already logged in: straight to the desk.
    D.api('GET', '/api/me').then(function (r) {
        if (r.status === 200) location.replace(r.data.home);
        else document.getElementById('name').focus();
    });

    form.addEventListener('submit', function (event) {
        event.preventDefault();
        var body = { name: form.name.value.trim(), password: form.password.value };
        var errors = [];
        if (!body.name) errors.push({ field: 'name', problem: 'enter your user name' });
        if (!body.password) errors.push({ field: 'password', problem: 'enter your password' });
        if (errors.length) { D.showErrors(form, 'Log in needs both', errors); return; }
        button.disabled = true;
        D.api('POST', '/api/login', body).then(function (r) {
            button.disabled = false;
            if (r.status === 200) { location.replace(r.data.home); return; }
            form.password.value = '';
            var message = r.data.error || 'Log in failed';
            if (r.status === 429) message = 'Too many failed attempts: wait ' + (r.data.retry_after || 60) + ' seconds, then try again.';
            else if (r.status === 401) message = 'The user name or password is wrong.';
            D.showErrors(form, message, r.data.errors || []);
        });
    });
}());
