/* divert-web — the case-manager desk: the people assigned to me (pending
   intake with the days left, active, in the wind), a person's details,
   and recording intake completed / in the wind / re-engaged / discharge. */
'use strict';

(function () {
    var el = D.el;
    var canRecord = false;
    var REASONS = [
        ['graduated', 'Graduated'], ['moved', 'Moved away'], ['declined_services', 'Declined services'],
        ['incarcerated', 'Incarcerated'], ['deceased', 'Deceased'], ['other', 'Other reason']
    ];
    var PATHWAYS = {
        arrest_diversion: 'arrest diversion', social_contact: 'social contact',
        community: 'community referral', pretrial_diversion: 'pretrial diversion'
    };

    function name(p) {
        var person = p.person || {};
        var full = [person.first_name, person.last_name].filter(Boolean).join(' ');
        return full || ('ID ' + (person.source_person_id || p.referral_id.slice(0, 8)));
    }

    function daysLeft(seconds) {
        if (seconds === null || seconds === undefined) return '';
        if (seconds <= 0) return 'intake window closed';
        var days = Math.ceil(seconds / 86400);
        return days === 1 ? '1 day left' : days + ' days left';
    }

    function say(text, bad) {
        var box = D.clear(document.getElementById('message'));
        if (text) D.add(box, el('p', { class: 'outcome ' + (bad ? 'decline' : 'accept') }, text));
    }

    function record(p, change, reason, li) {
        var body = { source_id: p.source_id, referral_id: p.referral_id, change: change };
        if (reason) body.reason = reason;
        li.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
        D.api('POST', '/api/cm/enrollment', body).then(function (r) {
            if (r.status === 200) say(name(p) + ': ' + r.data.summary, false);
            else say(name(p) + ': ' + (r.data.error || 'not recorded'), true);
            load();
        });
    }

    function actions(p, li) {
        var box = el('div', { class: 'actions' });
        D.add(box, el('button', { type: 'button', class: 'secondary', onclick: function () { details(p); } },
            'Details', el('span', { class: 'sr-only' }, ' of ' + name(p))));
        function button(text, change, style) {
            return el('button', { type: 'button', class: style || '', disabled: !canRecord,
                onclick: function () { record(p, change, null, li); } }, text, el('span', { class: 'sr-only' }, ': ' + name(p)));
        }
        if (p.status === 'pending_intake') D.add(box, button('Intake completed', 'intake_completed'));
        if (p.status === 'active') D.add(box, button('In the wind', 'in_the_wind', 'secondary'));
        if (p.status === 'in_the_wind') D.add(box, button('Re-engaged', 're_engaged'));
        var id = 'reason-' + p.referral_id;
        var select = el('select', { id: id }, el('option', { value: '' }, 'Choose a reason'),
            REASONS.map(function (r) { return el('option', { value: r[0] }, r[1]); }));
        var problem = el('span', { class: 'error-text', hidden: true, id: id + '-error' });
        var form = el('div', { class: 'field', hidden: true },
            el('label', { for: id }, 'Reason for discharge'), problem, select,
            el('div', { class: 'actions' },
                el('button', { type: 'button', class: 'danger', onclick: function () {
                    if (!select.value) {
                        problem.textContent = 'Choose a reason';
                        problem.hidden = false;
                        select.setAttribute('aria-invalid', 'true');
                        select.setAttribute('aria-describedby', id + '-error');
                        select.focus();
                        return;
                    }
                    record(p, 'exited', select.value, li);
                } }, 'Discharge'),
                el('button', { type: 'button', class: 'secondary', onclick: function () { form.hidden = true; } }, 'Cancel')));
        D.add(box, el('button', { type: 'button', class: 'danger', disabled: !canRecord,
            onclick: function () { form.hidden = false; select.focus(); } }, 'Discharge…', el('span', { class: 'sr-only' }, ' ' + name(p))));
        return [box, form];
    }

    function item(p) {
        var li = el('li', { 'data-referral': p.referral_id });
        var left = p.intake_seconds_left;
        var urgent = left !== null && left !== undefined && left < 7 * 86400;
        D.add(li, [
            el('div', { class: 'line1' }, name(p), ' ',
               p.status === 'pending_intake' ? el('span', { class: 'badge ' + (urgent ? 'urgent' : 'pending_intake') }, daysLeft(left)) : null),
            el('div', { class: 'meta' }, (PATHWAYS[p.pathway] || p.pathway) + ' from ' + p.source_name +
               (p.area ? ' · ' + p.area : '') + ' · assigned ' + D.day(p.enrolled_at) +
               (p.ends_at ? ' · term ends ' + D.day(p.ends_at) : ''))
        ]);
        D.add(li, actions(p, li));
        return li;
    }

    function load() {
        return D.api('GET', '/api/cm/people').then(function (r) {
            if (r.status !== 200) { say(r.data.error || 'The list is not available.', true); return; }
            canRecord = r.data.can_record;
            var note = document.getElementById('record-note');
            note.hidden = canRecord;
            note.textContent = canRecord ? '' : 'Recording intake and discharges needs a case-management key on this server: ask your operator.';
            var groups = { pending_intake: 'pending', active: 'active', in_the_wind: 'wind' };
            var counts = { pending: 0, active: 0, wind: 0 };
            Object.keys(counts).forEach(function (g) { D.clear(document.getElementById(g)); });
            r.data.people.forEach(function (p) {
                var g = groups[p.status];
                if (!g) return;
                counts[g]++;
                D.add(document.getElementById(g), item(p));
            });
            Object.keys(counts).forEach(function (g) {
                document.getElementById(g + '-count').textContent = '(' + counts[g] + ')';
                if (!counts[g]) D.add(document.getElementById(g), el('li', { class: 'empty' }, 'No one.'));
            });
        });
    }

    function dl(pairs) {
        var list = el('dl', { class: 'details' });
        pairs.forEach(function (p) {
            if (p[1] === null || p[1] === undefined || p[1] === '') return;
            D.add(list, [el('dt', null, p[0]), el('dd', null, p[1])]);
        });
        return list;
    }

    function details(p) {
        var url = '/api/cm/person?source=' + encodeURIComponent(p.source_id) + '&id=' + encodeURIComponent(p.referral_id);
        D.api('GET', url).then(function (r) {
            var panel = document.getElementById('details');
            var out = D.clear(document.getElementById('details-body'));
            document.getElementById('columns').classList.remove('single');
            if (r.status !== 200) { D.add(out, el('p', { role: 'alert' }, r.data.error || 'Not available.')); D.openPanel(panel); return; }
            var ref = r.data.referral || {}, person = ref.person || {}, e = r.data.enrollment || {};
            document.getElementById('details-title').textContent = name(p);
            D.add(out, dl([
                ['Name', [person.first_name, person.last_name].filter(Boolean).join(' ')],
                ['Date of birth', person.dob],
                ['Referrer\'s ID', person.source_person_id],
                ['Referred by', r.data.source ? r.data.source.name : ''],
                ['Kind', PATHWAYS[ref.pathway] || ref.pathway],
                ['Area', ref.area],
                ['Housing', D.words(ref.housing)],
                ['Needs', (ref.behavioral_health || []).map(D.words).join(', ') || 'none given'],
                ['Offense', ref.offense ? [ref.offense.code, ref.offense.description].filter(Boolean).join(': ') : ''],
                ['Contacts in 12 months', ref.prior_contacts_12m],
                ['Referrer contact', ref.contact ? Object.keys(ref.contact).map(function (k) { return ref.contact[k]; }).join(', ') : ''],
                ['Notes', ref.notes],
                ['Status', D.words(e.status)],
                ['Assigned', D.day(e.enrolled_at)],
                ['Intake due', e.status === 'pending_intake' ? D.day(e.intake_due_at) : ''],
                ['Term ends', D.day(e.ends_at)],
                ['Program', r.data.program]
            ]));
            D.openPanel(panel);
        });
    }

    document.getElementById('details-close').addEventListener('click', function () {
        document.getElementById('details').hidden = true;
        document.getElementById('columns').classList.add('single');
    });

    D.me('case_manager').then(function (me) {
        if (me.case_manager)
            document.getElementById('cm-line').textContent = me.case_manager.name + ' · ' + me.case_manager.program;
        load();
        D.live(function () { load(); });
    });
}());
