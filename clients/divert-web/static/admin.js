/* divert-web — users and roles: who may log in, as what, bound to which
   source or case manager; add, new password, disable, enable. */
'use strict';

(function () {
    var el = D.el;
    var data = { users: [], sources: [], case_managers: [] };
    var me = null;
    var passwdFor = null;
    var ROLES = { partner: 'partner', case_manager: 'case manager', program: 'program manager', admin: 'administrator' };

    function say(text, bad) {
        var box = D.clear(document.getElementById('message'));
        if (text) D.add(box, el('p', { class: 'outcome ' + (bad ? 'decline' : 'accept') }, text));
    }

    function bindings() {
        var role = document.getElementById('role').value;
        var field = document.getElementById('binding-field');
        var select = D.clear(document.getElementById('binding'));
        field.hidden = role !== 'partner' && role !== 'case_manager';
        if (field.hidden) return;
        document.getElementById('binding-label').textContent = role === 'partner' ? 'Source (organisation)' : 'Case manager';
        D.add(select, el('option', { value: '' }, 'Choose one'));
        (role === 'partner' ? data.sources : data.case_managers).forEach(function (b) {
            D.add(select, el('option', { value: b.id }, b.name + ' (' + b.id + (b.program ? ', ' + b.program : '') + ')'));
        });
    }

    function post(path, body, done) {
        return D.api('POST', path, body).then(function (r) {
            if (r.status === 200) { done(r.data.user); load(); }
            else say(r.data.error || 'not done', true);
            return r;
        });
    }

    function item(u) {
        var bound = u.source_id || u.case_manager_id;
        var li = el('li', { 'data-user': u.name },
            el('div', { class: 'line1' }, u.name + ' ', el('span', { class: 'badge ' + (u.disabled ? 'exited' : 'active') },
               u.disabled ? 'disabled' : 'active')),
            el('div', { class: 'meta' }, ROLES[u.role] + (bound ? ' of ' + bound : '') + ' · last login ' +
               (u.last_login_at ? D.when(u.last_login_at) : 'never') + ' · ' + u.sessions + ' open session' + (u.sessions === 1 ? '' : 's')));
        var actions = el('div', { class: 'actions' });
        D.add(actions, el('button', { type: 'button', class: 'secondary', onclick: function () {
            passwdFor = u.name;
            var form = document.getElementById('passwd');
            document.getElementById('passwd-who').textContent = 'For ' + u.name + '.';
            form.hidden = false;
            document.getElementById('new-password').focus();
        } }, 'New password', el('span', { class: 'sr-only' }, ' for ' + u.name)));
        if (u.disabled)
            D.add(actions, el('button', { type: 'button', class: 'secondary', onclick: function () {
                post('/api/admin/enable', { name: u.name }, function () { say(u.name + ' can log in again.'); });
            } }, 'Enable', el('span', { class: 'sr-only' }, ' ' + u.name)));
        else if (!me || u.name !== me.name)
            D.add(actions, el('button', { type: 'button', class: 'danger', onclick: function () {
                post('/api/admin/disable', { name: u.name }, function () { say(u.name + ' is disabled; their sessions ended.'); });
            } }, 'Disable', el('span', { class: 'sr-only' }, ' ' + u.name)));
        D.add(li, actions);
        return li;
    }

    function load() {
        return D.api('GET', '/api/admin/users').then(function (r) {
            if (r.status !== 200) return;
            data = r.data;
            var list = D.clear(document.getElementById('users'));
            data.users.forEach(function (u) { D.add(list, item(u)); });
            bindings();
        });
    }

    var add = document.getElementById('add');
    document.getElementById('role').addEventListener('change', bindings);
    add.addEventListener('submit', function (event) {
        event.preventDefault();
        var body = {
            name: document.getElementById('name').value.trim(),
            role: document.getElementById('role').value,
            binding: document.getElementById('binding-field').hidden ? null : document.getElementById('binding').value,
            password: document.getElementById('password').value
        };
        D.api('POST', '/api/admin/users', body).then(function (r) {
            if (r.status === 200) {
                say(r.data.user.name + ' added as ' + ROLES[r.data.user.role] + '.');
                add.reset();
                D.clearErrors(add);
                bindings();
                load();
            }
            else D.showErrors(add, r.data.error || 'The user was not added', r.data.errors || []);
        });
    });

    var passwd = document.getElementById('passwd');
    passwd.addEventListener('submit', function (event) {
        event.preventDefault();
        D.api('POST', '/api/admin/passwd', { name: passwdFor, password: document.getElementById('new-password').value }).then(function (r) {
            if (r.status === 200) {
                say(passwdFor + ' has a new password; their sessions ended.');
                passwd.reset();
                D.clearErrors(passwd);
                passwd.hidden = true;
                load();
            }
            else D.showErrors(passwd, r.data.error || 'Not changed', r.data.errors || []);
        });
    });
    document.getElementById('passwd-cancel').addEventListener('click', function () {
        passwd.reset();
        D.clearErrors(passwd);
        passwd.hidden = true;
    });

    D.me('admin').then(function (m) { me = m; load(); });
}());
