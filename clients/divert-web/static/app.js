/* divert-web — what every page shares: building elements (text only,
   never markup), calling the JSON API with the CSRF token, who is logged
   in, live updates (Server-Sent Events), field errors, times. */
'use strict';

var D = (function () {
    var csrf = null;

    // el('li', {class: 'x', 'data-id': 7}, 'text', child, ...): every string
    // becomes a text node, so nothing from the server is ever parsed as HTML.
    function el(tag, attrs) {
        var node = document.createElement(tag);
        if (attrs) {
            Object.keys(attrs).forEach(function (key) {
                var value = attrs[key];
                if (value === null || value === undefined || value === false) return;
                if (key === 'text') node.textContent = String(value);
                else if (key === 'onclick') node.addEventListener('click', value);
                else if (key === 'onchange') node.addEventListener('change', value);
                else node.setAttribute(key, value === true ? '' : String(value));
            });
        }
        for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
        return node;
    }

    function add(node, child) {
        if (child === null || child === undefined || child === false) return;
        if (Array.isArray(child)) { child.forEach(function (c) { add(node, c); }); return; }
        node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    }

    function clear(node) {
        while (node.firstChild) node.removeChild(node.firstChild);
        return node;
    }

    function toLogin() {
        if (location.pathname !== '/' && location.pathname !== '/index.html') location.replace('/');
    }

    // api('POST', '/api/...', body) -> {status, data}; a lost session goes to the login page.
    function api(method, path, body) {
        var headers = { 'Accept': 'application/json' };
        if (method !== 'GET') {
            headers['Content-Type'] = 'application/json';
            if (csrf) headers['X-CSRF-Token'] = csrf;
        }
        return fetch(path, {
            method: method, headers: headers, credentials: 'same-origin', cache: 'no-store',
            body: body === undefined ? undefined : JSON.stringify(body)
        }).then(function (response) {
            return response.json().catch(function () { return {}; }).then(function (data) {
                if (response.status === 401 && path !== '/api/login') toLogin();
                return { status: response.status, data: data };
            });
        }, function () {
            return { status: 0, data: { error: 'the server cannot be reached: check the connection and try again' } };
        });
    }

    // Who is logged in; a page for another role sends them to their own desk.
    function me(role) {
        return api('GET', '/api/me').then(function (r) {
            if (r.status !== 200) { if (r.status !== 401) toLogin(); return new Promise(function () {}); }
            if (role && r.data.role !== role) { location.replace(r.data.home); return new Promise(function () {}); }
            csrf = r.data.csrf;
            var who = document.getElementById('who');
            if (who) who.textContent = r.data.name;
            var out = document.getElementById('logout');
            if (out) out.addEventListener('click', function () {
                api('POST', '/api/logout', {}).then(function () { location.replace('/'); });
            });
            return r.data;
        });
    }

    // Live updates: calls changed(kind, event) for each event this user may
    // see (debounced into one call per burst), and once after a reconnect.
    function live(changed) {
        var timer = null, kinds = {}, last = null;
        function soon(kind, data) {
            kinds[kind] = true;
            last = data;
            if (timer) return;
            timer = setTimeout(function () {
                var seen = Object.keys(kinds);
                kinds = {};
                timer = null;
                changed(seen, last);
            }, 250);
        }
        var first = true;
        var source = new EventSource('/api/events');
        source.addEventListener('hello', function () {
            var state = document.getElementById('live');
            if (state) state.textContent = 'Live: updates appear as they happen.';
            if (!first) soon('resync', null);
            first = false;
        });
        ['decision', 'enrollment', 'resync'].forEach(function (kind) {
            source.addEventListener(kind, function (message) {
                var data = null;
                try { data = JSON.parse(message.data); } catch (e) { data = null; }
                soon(kind, data);
            });
        });
        source.onerror = function () {
            var state = document.getElementById('live');
            if (state) state.textContent = 'Reconnecting for live updates...';
            if (source.readyState === EventSource.CLOSED) {
                // The server refused the stream: the session may have ended.
                api('GET', '/api/me').then(function (r) { if (r.status === 200) setTimeout(function () { live(changed); }, 3000); });
            }
        };
        return source;
    }

    // Field errors: [{field, problem}] beside the inputs (data-field) and in
    // a summary at the top of the form whose links move the focus there.
    function fieldId(field) {
        return 'err-' + String(field).replace(/\[\d+\]$/, '').replace(/[^A-Za-z0-9_-]/g, '-');
    }

    function clearErrors(form) {
        Array.prototype.forEach.call(form.querySelectorAll('.error-text'), function (n) { n.remove(); });
        Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (n) {
            n.removeAttribute('aria-invalid');
            var described = (n.getAttribute('aria-describedby') || '').split(' ').filter(function (id) {
                return id && id.indexOf('err-') !== 0;
            });
            if (described.length) n.setAttribute('aria-describedby', described.join(' '));
            else n.removeAttribute('aria-describedby');
        });
        var summary = form.querySelector('.error-summary');
        if (summary) { clear(summary); summary.hidden = true; }
    }

    function label(form, field) {
        var target = form.querySelector('[data-field="' + field.replace(/\[\d+\]$/, '') + '"]');
        if (!target) return field;
        var text = target.getAttribute('data-label');
        if (text) return text;
        var l = target.id ? form.querySelector('label[for="' + target.id + '"]') : null;
        return l ? l.textContent.replace(/\s*\(optional\)\s*$/, '') : field;
    }

    function showErrors(form, message, errors) {
        clearErrors(form);
        var summary = form.querySelector('.error-summary');
        var items = [];
        var first = null;
        (errors || []).forEach(function (e) {
            var key = String(e.field || '').replace(/\[\d+\]$/, '');
            var target = form.querySelector('[data-field="' + key + '"]');
            var id = fieldId(key);
            if (target) {
                var where = target.closest('.field, fieldset') || target;
                var note = document.getElementById(id);
                if (!note) {
                    note = el('span', { id: id, class: 'error-text' });
                    var after = where.querySelector('.rule') || where.querySelector('legend') || where.querySelector('label');
                    if (after && after.parentNode === where) after.insertAdjacentElement('afterend', note);
                    else where.insertBefore(note, where.firstChild);
                }
                note.textContent = (note.textContent ? note.textContent + '; ' : '') + e.problem;
                var inputs = target.matches('input, select, textarea') ? [target]
                    : Array.prototype.slice.call(target.querySelectorAll('input, select, textarea'));
                inputs.forEach(function (input) {
                    input.setAttribute('aria-invalid', 'true');
                    var described = input.getAttribute('aria-describedby');
                    if (!described || described.split(' ').indexOf(id) < 0)
                        input.setAttribute('aria-describedby', (described ? described + ' ' : '') + id);
                });
                if (!first) first = inputs[0] || target;
            }
            items.push(el('li', null, target
                ? el('a', { href: '#' + (inputs && inputs[0] ? inputs[0].id : ''), onclick: function (ev) {
                        ev.preventDefault(); (inputs[0] || target).focus(); } }, label(form, key) + ': ' + e.problem)
                : (e.field ? e.field + ': ' : '') + e.problem));
        });
        if (summary) {
            add(summary, el('h2', { text: message || 'Please check the form' }));
            if (items.length) add(summary, el('ul', null, items));
            summary.hidden = false;
            summary.setAttribute('tabindex', '-1');
            summary.focus();
        }
        else if (first) first.focus();
    }

    function when(iso) {
        if (!iso) return '';
        var d = new Date(iso);
        if (isNaN(d.getTime())) return iso;
        var today = new Date();
        var time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        if (d.toDateString() === today.toDateString()) return 'today ' + time;
        return d.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' }) + ' ' + time;
    }

    function day(iso) {
        if (!iso) return '';
        var d = new Date(iso);
        return isNaN(d.getTime()) ? iso : d.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' });
    }

    function age(seconds) {
        seconds = Math.max(0, Math.floor(seconds || 0));
        var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
        if (d > 0) return d + ' d ' + h + ' h';
        if (h > 0) return h + ' h ' + m + ' min';
        return m + ' min';
    }

    function words(code) {
        return String(code || '').replace(/_/g, ' ');
    }

    function uuid() {
        if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
        var b = new Uint8Array(16);
        crypto.getRandomValues(b);
        b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
        var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
        return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
    }

    // Show a panel (details, explain) and move the focus to its heading.
    function openPanel(panel) {
        panel.hidden = false;
        var heading = panel.querySelector('h2');
        if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus(); }
    }

    return {
        el: el, add: add, clear: clear, api: api, me: me, live: live, showErrors: showErrors,
        clearErrors: clearErrors, when: when, day: day, age: age, words: words, uuid: uuid,
        openPanel: openPanel
    };
}());
