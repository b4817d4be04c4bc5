/* divert-web — the program manager's reports: the figures of divertctl
   report (GET /api/program/report, divert.report's JSON) drawn as inline
   SVG by this script (no library, nothing from elsewhere), each with a
   table of its numbers and a CSV download (GET /api/program/report.csv,
   the same CSV as divertctl's). One chart per program (caseloads: one per
   case manager). No personal data is shown or fetched here. */
'use strict';

(function () {
    var el = D.el;
    var NS = 'http://www.w3.org/2000/svg';
    var form = document.getElementById('query');
    var figuresBox = document.getElementById('figures');
    var statusLine = document.getElementById('status');
    var report = null;          // the report shown, with the program it was asked for
    var programs = {};          // every program seen, for the form
    var drawn = [];             // [{figure, box}] to draw again when the width changes
    var drawnWidth = 0;

    // ------------------------------------------------------------------
    // SVG

    function svg(tag, attrs) {
        var node = document.createElementNS(NS, tag);
        Object.keys(attrs || {}).forEach(function (key) {
            if (attrs[key] !== null && attrs[key] !== undefined) node.setAttribute(key, String(attrs[key]));
        });
        for (var i = 2; i < arguments.length; i++) {
            var child = arguments[i];
            if (child === null || child === undefined) continue;
            node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
        }
        return node;
    }

    function frame(width, height, label) {
        return svg('svg', { class: 'chart', width: width, height: height, viewBox: '0 0 ' + width + ' ' + height,
                            role: 'img', 'aria-label': label, focusable: 'false' }, svg('title', null, label));
    }

    // A tick step of 1, 2 or 5 times a power of ten, about raw; whole for counts.
    function step(raw, whole) {
        if (!(raw > 0)) return 1;
        var power = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
        var s = [1, 2, 5, 10].map(function (m) { return m * power; }).filter(function (v) { return v >= raw; })[0];
        return whole ? Math.max(1, Math.round(s)) : s;
    }

    function num(v) {
        if (typeof v !== 'number') return v;
        return Number.isInteger(v) ? String(v) : String(parseFloat(v.toPrecision(10)));
    }

    // Periods over time: stacked bars (counts) and lines (with points), or
    // with `range` the two lines as a low-high range in each period (p50-p90).
    //   o: {width, height, label, periods, stacks: [{key, name, cls, values}], lines: [...], range, whole}
    function columns(o) {
        var width = o.width, height = o.height || 230, left = 42, right = 10, top = 12, bottom = 40;
        var n = o.periods.length, pw = width - left - right, ph = height - top - bottom;
        var stacks = o.stacks || [], lines = o.lines || [];
        var max = 0;
        o.periods.forEach(function (p, i) {
            var sum = 0;
            stacks.forEach(function (s) { sum += s.values[i] > 0 ? s.values[i] : 0; });
            max = Math.max(max, sum);
            lines.forEach(function (l) { if (typeof l.values[i] === 'number') max = Math.max(max, l.values[i]); });
        });
        var tick = step(max / 4, o.whole !== false);
        var ceiling = Math.max(tick, Math.ceil(max / tick - 1e-9) * tick);
        function y(v) { return top + ph - v / ceiling * ph; }
        var chart = frame(width, height, o.label);
        for (var v = 0; v <= ceiling + 1e-9; v += tick) {
            chart.appendChild(svg('line', { class: 'grid', x1: left, x2: width - right, y1: y(v), y2: y(v) }));
            chart.appendChild(svg('text', { class: 'tick', x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, num(+v.toFixed(6))));
        }
        var band = pw / Math.max(1, n), bar = Math.max(2, Math.min(48, band * 0.7));
        o.periods.forEach(function (p, i) {
            var x = left + band * i + (band - bar) / 2, base = 0;
            stacks.forEach(function (s) {
                var value = s.values[i];
                if (!(value > 0)) return;
                chart.appendChild(svg('rect', { class: 'mark ' + s.cls, x: x.toFixed(1), y: y(base + value).toFixed(1),
                    width: bar.toFixed(1), height: (y(base) - y(base + value)).toFixed(1),
                    'data-series': s.key, 'data-period': p, 'data-value': value },
                    svg('title', null, periodLong(p) + ': ' + s.name + ' ' + num(value))));
                base += value;
            });
        });
        if (o.range && lines.length === 2) {
            o.periods.forEach(function (p, i) {
                var low = lines[0].values[i], high = lines[1].values[i], cx = (left + band * (i + 0.5)).toFixed(1);
                if (typeof low !== 'number' || typeof high !== 'number') return;
                chart.appendChild(svg('line', { class: 'range', x1: cx, x2: cx, y1: y(low).toFixed(1), y2: y(high).toFixed(1) }));
                if (band >= 40)
                    chart.appendChild(svg('text', { class: 'tick', x: (+cx + 8).toFixed(1), y: (y(high) + 4).toFixed(1) },
                                          low === high ? num(low) : num(low) + '\u2013' + num(high)));
            });
        }
        lines.forEach(function (l) {
            var path = '', pen = false;       // a gap where a period has no value
            o.periods.forEach(function (p, i) {
                var value = l.values[i];
                if (typeof value !== 'number') { pen = false; return; }
                path += (pen ? 'L' : 'M') + (left + band * (i + 0.5)).toFixed(1) + ',' + y(value).toFixed(1);
                pen = true;
            });
            if (!o.range && path.indexOf('L') >= 0) chart.appendChild(svg('path', { class: 'line ' + l.cls, d: path }));
            o.periods.forEach(function (p, i) {
                var value = l.values[i];
                if (typeof value !== 'number') return;
                chart.appendChild(svg('circle', { class: 'point ' + l.cls, cx: (left + band * (i + 0.5)).toFixed(1),
                    cy: y(value).toFixed(1), r: o.range && l === lines[0] ? 5.5 : 3.5,
                    'data-series': l.key, 'data-period': p, 'data-value': value },
                    svg('title', null, periodLong(p) + ': ' + l.name + ' ' + num(value))));
            });
        });
        chart.appendChild(svg('line', { class: 'axis', x1: left, x2: width - right, y1: y(0), y2: y(0) }));
        var every = Math.max(1, Math.ceil(n * labelWidth() / pw));
        o.periods.forEach(function (p, i) {
            if (i % every) return;
            chart.appendChild(svg('text', { class: 'tick', x: (left + band * (i + 0.5)).toFixed(1), y: height - bottom + 18,
                                            'text-anchor': 'middle' }, periodShort(p)));
        });
        return chart;
    }

    // Categories: one horizontal bar each, its label above it.
    //   o: {width, label, items: [{key, label, value, text, cls}], max}
    function barList(o) {
        var width = o.width, row = 42, height = row * o.items.length + 6;
        var max = o.max || Math.max.apply(null, o.items.map(function (i) { return i.value; }).concat([1]));
        var room = width - 70;
        var chart = frame(width, height, o.label);
        o.items.forEach(function (item, i) {
            var y0 = i * row + 2, w = Math.max(0, room * item.value / max);
            chart.appendChild(svg('text', { class: 'label', x: 0, y: y0 + 13 }, item.label));
            chart.appendChild(svg('rect', { class: 'mark ' + (item.cls || 's-count'), x: 0, y: y0 + 18, width: w.toFixed(1),
                height: 16, 'data-label': item.key, 'data-value': item.value },
                svg('title', null, item.label + ': ' + item.text)));
            chart.appendChild(svg('text', { class: 'value', x: (w + 6).toFixed(1), y: y0 + 31 }, item.text));
        });
        return chart;
    }

    // ------------------------------------------------------------------
    // Periods and rows

    function periodShort(p) {
        if (report.by === 'month') return p.slice(0, 7);
        if (report.by === 'all') return report.from + ' to ' + report.to;
        return p.slice(5);
    }

    function periodLong(p) {
        if (report.by === 'week') return 'week of ' + p;
        if (report.by === 'month') return p.slice(0, 7);
        if (report.by === 'all') return report.from + ' to ' + report.to;
        return p;
    }

    function labelWidth() { return report.by === 'month' ? 62 : report.by === 'all' ? 170 : 46; }

    function rowsOf(figure, program) {
        return figure.rows.filter(function (r) { return r.program === program; });
    }

    function figureNamed(name) {
        return report.figures.filter(function (f) { return f.name === name; })[0];
    }

    function periodsOf(rows) {
        var seen = {}, out = [];
        rows.forEach(function (r) { if (!seen[r.period]) { seen[r.period] = true; out.push(r.period); } });
        return out.sort();
    }

    // Values of `column` per period (null where no row).
    function series(rows, periods, column) {
        var at = {};
        rows.forEach(function (r) { at[r.period] = r[column]; });
        return periods.map(function (p) { return at[p] === undefined ? null : at[p]; });
    }

    // Sum `column` over the periods, per `key(row)`; in order of first appearance.
    function totals(rows, key, column) {
        var out = [], index = {};
        rows.forEach(function (r) {
            var k = key(r);
            if (index[k] === undefined) { index[k] = out.length; out.push({ key: k, row: r, value: 0 }); }
            out[index[k]].value += r[column] || 0;
        });
        return out;
    }

    // Largest first (a stable sort keeps the database's order among equals).
    function byValue(list) {
        return list.map(function (t, i) { return [t, i]; }).sort(function (a, b) {
            return b[0].value - a[0].value || a[1] - b[1];
        }).map(function (p) { return p[0]; });
    }

    var DECISION = { accept: 's-accept', waitlist: 's-waitlist', decline: 's-decline' };
    var TIER = { 1: 'tier 1 (arrest diversion)', 2: 'tier 2 (social contact, community)', 3: 'tier 3 (pretrial)' };

    // ------------------------------------------------------------------
    // Each figure: what to show for one program, a list of {title, chart
    // (an SVG), legend, note, small (one of several small charts)}, or null
    // when the figure has no row for it.

    function counted(name, key, label) {
        return function (figure, program, width) {
            var items = byValue(totals(rowsOf(figure, program), function (r) { return r[key]; }, name)).map(function (t) {
                return { key: t.key, label: label ? label(t.row) : D.words(t.key), value: t.value, text: String(t.value) };
            });
            if (!items.length) return null;
            return [{ chart: barList({ width: width, items: items,
                                       label: program + ': ' + figure.title.toLowerCase() + ', whole period' }) }];
        };
    }

    function stacked(stacks, lines, title, range) {
        return function (figure, program, width) {
            var rows = rowsOf(figure, program), periods = periodsOf(rows);
            if (!periods.length) return null;
            var o = { width: width, periods: periods, label: program + ': ' + (title || figure.title).toLowerCase(),
                      stacks: stacks.map(function (s) { return { key: s[0], name: s[1], cls: s[2], values: series(rows, periods, s[0]) }; }),
                      lines: (lines || []).map(function (s) { return { key: s[0], name: s[1], cls: s[2], values: series(rows, periods, s[0]) }; }),
                      whole: !lines || !lines.length || (stacks.length > 0), range: range };
            var any = o.stacks.some(function (s) { return s.values.some(function (v) { return v > 0; }); })
                   || o.lines.some(function (l) { return l.values.some(function (v) { return typeof v === 'number'; }); });
            if (!any) return [{ title: title, note: 'None in this period.' }];
            return [{ title: title, chart: columns(o), legend: legend(stacks, lines, range) }];
        };
    }

    function both(first, second) {
        return function (figure, program, width) {
            var a = first(figure, program, width), b = second(figure, program, width);
            return a || b ? (a || []).concat(b || []) : null;
        };
    }

    // Percentiles: each period's p50 to p90 as a range.
    var DAYS = [['days_p50', 'median days (p50)', 's-p50'], ['days_p90', 'p90 days', 's-p90']];

    var CHARTS = {
        referrals: stacked([['accepted', 'accepted', 's-accept'], ['waitlisted', 'waitlisted', 's-waitlist'],
                            ['declined', 'declined', 's-decline']], null, 'Referrals by intake decision'),
        referrals_by_pathway: counted('referrals', 'pathway'),
        referrals_by_source_kind: counted('referrals', 'source_kind'),
        referrals_by_source: counted('referrals', 'source', function (r) { return r.source + ' (' + D.words(r.source_kind) + ')'; }),
        decisions: function (figure, program, width) {
            var order = ['accept', 'waitlist', 'decline'];
            function rank(t) { var i = order.indexOf(t.row.decision); return i < 0 ? order.length : i; }
            var items = byValue(totals(rowsOf(figure, program), function (r) { return r.decision + ':' + r.reason; }, 'decisions'))
                .sort(function (a, b) { return rank(a) - rank(b); })
                .map(function (t) {
                    return { key: t.key, label: D.words(t.row.decision) + ': ' + D.words(t.row.reason), value: t.value,
                             text: String(t.value), cls: DECISION[t.row.decision] || 's-other' };
                });
            if (!items.length) return null;
            return [{ chart: barList({ width: width, items: items, label: program + ': decisions by outcome and reason, whole period' }),
                      legend: legend([['a', 'accept', 's-accept'], ['w', 'waitlist', 's-waitlist'], ['d', 'decline', 's-decline'],
                                      ['o', 'withdrawn, lapsed', 's-other']]) }];
        },
        acceptance_by_tier: function (figure, program, width) {
            var rows = rowsOf(figure, program);
            var referred = totals(rows, function (r) { return r.tier; }, 'referrals');
            var accepted = totals(rows, function (r) { return r.tier; }, 'accepted');
            if (!referred.length) return null;
            var items = referred.map(function (t, i) {
                var rate = t.value ? accepted[i].value / t.value : 0;
                return { key: String(t.key), label: TIER[t.key] || 'tier ' + t.key, value: rate, cls: 's-accept',
                         text: accepted[i].value + ' of ' + t.value + ' (' + Math.round(rate * 1000) / 10 + '%)' };
            });
            return [{ chart: barList({ width: width, items: items, max: 1, label: program + ': acceptance rate by tier, whole period' }) }];
        },
        waitlist: both(stacked([['promoted', 'promoted', 's-accept'], ['expired', 'expired', 's-decline'],
                                ['withdrawn', 'withdrawn', 's-other']], null, 'How waits ended'),
                       stacked([], DAYS, 'Days on the waitlist', true)),
        intake: both(stacked([['completed', 'completed', 's-accept'], ['lapsed', 'lapsed', 's-decline'],
                              ['ended_otherwise', 'ended otherwise', 's-other']], null, 'How pending intakes ended'),
                     stacked([], DAYS, 'Days from acceptance to intake', true)),
        exits: counted('exits', 'reason'),
        length_of_stay: stacked([], [['stay_days_p50', 'median days (p50)', 's-p50'], ['stay_days_p90', 'p90 days', 's-p90']],
                                'Days from acceptance to exit', true),
        capacity: function (figure, program, width) {
            var rows = rowsOf(figure, program), periods = periodsOf(rows);
            if (!periods.length) return null;
            var funded = rows.some(function (r) { return r.funded !== null; });
            var people = [['total', 'on active caseloads (T)', 's-total'], ['waitlist', 'waiting (W)', 's-waitlist']];
            var limits = [['paced', 'paced capacity', 's-paced']].concat(funded ? [['funded', 'funded slots', 's-funded']] : []);
            var staff = [['case_managers', 'case managers (n)', 's-staff'], ['staffing_gap', 'to add (staffing gap)', 's-gap']];
            return stacked(people, limits, 'People held and waiting, against capacity')(figure, program, width)
                .concat(stacked(staff, null, 'Case managers and the staffing gap')(figure, program, width))
                .concat([{ note: 'Staffing should grow slightly ahead of caseloads: when people held and waiting pass the ' +
                                 'paced line, the staffing gap is how many case managers to add to keep the average under ' +
                                 'the pacing line.' }]);
        },
        caseloads: function (figure, program, width) {
            var rows = rowsOf(figure, program);
            var capacity = figureNamed('capacity');
            var limits = capacity ? rowsOf(capacity, program) : [];
            var periods = periodsOf(limits.length ? limits : rows);
            var ids = [];
            rows.forEach(function (r) { if (ids.indexOf(r.case_manager) < 0) ids.push(r.case_manager); });
            if (!ids.length) return null;
            var columnsAcross = Math.max(1, Math.min(ids.length, Math.floor(width / 280)));
            var small = Math.floor((width - 12 * (columnsAcross - 1)) / columnsAcross);
            return ids.map(function (id) {
                var mine = rows.filter(function (r) { return r.case_manager === id; });
                var active = mine.map(function (r) { return r.active ? r : { period: r.period, caseload: null }; });
                var inactive = mine.map(function (r) { return r.active ? { period: r.period, caseload: null } : r; });
                var o = { width: small, height: 170, periods: periods, label: program + ': caseload of ' + id,
                          stacks: [{ key: 'caseload', name: 'caseload', cls: 's-total', values: series(active, periods, 'caseload') },
                                   { key: 'caseload_inactive', name: 'caseload (inactive)', cls: 's-inactive',
                                     values: series(inactive, periods, 'caseload') }],
                          lines: [{ key: 'hard_cap', name: 'hard cap', cls: 's-cap', values: series(limits, periods, 'hard_cap') },
                                  { key: 'target_avg', name: 'target average', cls: 's-paced', values: series(limits, periods, 'target_avg') }] };
                return { title: id, small: true, chart: columns(o) };
            }).concat([{ legend: legend([['caseload', 'caseload', 's-total'], ['inactive', 'case manager inactive', 's-inactive']],
                                        [['hard_cap', 'hard cap', 's-cap'], ['target_avg', 'target average', 's-paced']]) }]);
        }
    };

    function legend(stacks, lines, dots) {
        var list = el('ul', { class: 'legend-list' });
        (stacks || []).forEach(function (s) { D.add(list, el('li', null, el('span', { class: 'swatch ' + s[2] }), s[1])); });
        (lines || []).forEach(function (s) {
            D.add(list, el('li', null, el('span', { class: 'swatch ' + (dots ? 'dot ' : 'line ') + s[2] }), s[1]));
        });
        return list;
    }

    // ------------------------------------------------------------------
    // The page

    function cell(value) {
        if (value === null || value === undefined) return '-';
        if (value === true) return 'yes';
        if (value === false) return 'no';
        return num(value);
    }

    function table(figure) {
        var head = el('tr');
        figure.columns.forEach(function (c) { D.add(head, el('th', { scope: 'col' }, D.words(c))); });
        var body = el('tbody');
        figure.rows.forEach(function (r) {
            var tr = el('tr');
            figure.columns.forEach(function (c) {
                D.add(tr, el('td', { class: typeof r[c] === 'number' ? 'num' : null }, cell(r[c])));
            });
            D.add(body, tr);
        });
        if (!figure.rows.length) D.add(body, el('tr', null, el('td', { colspan: figure.columns.length }, 'Nothing in this period.')));
        var numbers = el('table', { class: 'numbers' }, el('caption', { class: 'sr-only' }, figure.title), el('thead', null, head), body);
        return el('details', { class: 'numbers', open: figure.rows.length <= 12 },
            el('summary', null, 'The numbers (' + figure.rows.length + ' row' + (figure.rows.length === 1 ? '' : 's') + ')'),
            el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': figure.title + ': the numbers' }, numbers));
    }

    function query(p) {
        return Object.keys(p).filter(function (k) { return p[k]; }).map(function (k) {
            return k + '=' + encodeURIComponent(p[k]);
        }).join('&');
    }

    function csvLink(figure) {
        var href = '/api/program/report.csv?' + query({ figure: figure.name, program: report.program, from: report.from,
                                                         to: report.to, by: report.by });
        return el('a', { class: 'csv', href: href, download: 'divert-' + figure.name + '-' + report.from + '-' + report.to + '.csv' },
                  'Download CSV', el('span', { class: 'sr-only' }, ': ' + figure.title));
    }

    // The charts of one figure, for every program, at the box's width.
    function draw(figure, box) {
        D.clear(box);
        var width = box.clientWidth;
        var across = report.programs.length > 1 && width >= 900 ? 2 : 1;
        box.className = 'charts' + (across > 1 ? ' two' : '');
        var chartWidth = Math.floor((width - 16 * (across - 1)) / across);
        report.programs.forEach(function (program) {
            var part = el('div', { class: 'program-charts', 'data-program': program });
            D.add(part, el('h3', null, program));
            var charts = (CHARTS[figure.name] || function () { return null; })(figure, program, chartWidth);
            if (!charts) D.add(part, el('p', { class: 'muted' }, 'Nothing in this period.'));
            var multiples = null;
            (charts || []).forEach(function (c) {
                if (c.small) {
                    if (!multiples) { multiples = el('div', { class: 'multiples' }); D.add(part, multiples); }
                    D.add(multiples, el('figure', { class: 'chart-box small', 'data-case-manager': c.title },
                        el('figcaption', null, c.title), c.chart));
                    return;
                }
                if (c.chart) D.add(part, el('figure', { class: 'chart-box' }, c.title ? el('figcaption', null, c.title) : null, c.chart));
                else if (c.title) D.add(part, el('p', { class: 'chart-title' }, c.title));
                if (c.legend) D.add(part, c.legend);
                if (c.note) D.add(part, el('p', { class: 'note' }, c.note));
            });
            D.add(box, part);
        });
    }

    function render() {
        var figures = D.clear(figuresBox), contents = D.clear(document.getElementById('contents'));
        drawn = [];
        var list = el('ul');
        report.figures.forEach(function (figure) {
            var id = 'fig-' + figure.name;
            D.add(list, el('li', null, el('a', { href: '#' + id }, figure.title)));
            var box = el('div', { class: 'charts' });
            var section = el('section', { class: 'card figure', id: id, 'data-figure': figure.name, 'aria-labelledby': id + '-title' },
                el('div', { class: 'panel-head' }, el('h2', { id: id + '-title' }, figure.title), csvLink(figure)),
                el('p', { class: 'about' }, figure.about), box, table(figure));
            D.add(figures, section);
            drawn.push({ figure: figure, box: box });
        });
        D.add(contents, [el('h2', { class: 'sr-only' }, 'Figures'), list]);
        contents.hidden = false;
        drawnWidth = figuresBox.clientWidth;
        drawn.forEach(function (d) { draw(d.figure, d.box); });
    }

    function describe() {
        var names = report.programs.join(' and ');
        var by = report.by === 'all' ? 'the whole period' : 'by ' + report.by;
        return names + ', ' + report.from + ' to ' + report.to + ', ' + by + '; days in ' + report.time_zone +
            '; made ' + D.when(report.generated_at) + '.';
    }

    function fillForm() {
        var select = document.getElementById('program');
        report.programs.forEach(function (p) { programs[p] = true; });
        var listed = Array.prototype.map.call(select.options, function (o) { return o.value; });
        Object.keys(programs).sort().forEach(function (p) {
            if (listed.indexOf(p) < 0) D.add(select, el('option', { value: p }, p));
        });
        select.value = report.program;
        document.getElementById('from').value = report.from;
        document.getElementById('to').value = report.to;
        document.getElementById('by').value = report.by;
    }

    function load(p) {
        var show = document.getElementById('show');
        show.disabled = true;
        statusLine.textContent = 'Loading the report...';
        return D.api('GET', '/api/program/report?' + query(p)).then(function (r) {
            show.disabled = false;
            if (r.status === 422) {
                statusLine.textContent = '';
                D.showErrors(form, r.data.error, r.data.errors);
                return;
            }
            if (r.status !== 200) {
                statusLine.textContent = r.data.error || 'The report is not available; try again shortly.';
                return;
            }
            D.clearErrors(form);
            report = r.data;
            report.program = p.program || '';
            fillForm();
            history.replaceState(null, '', '?' + query({ program: report.program, from: report.from, to: report.to, by: report.by }));
            statusLine.textContent = describe();
            render();
        });
    }

    function fromForm() {
        return { program: document.getElementById('program').value, from: document.getElementById('from').value,
                 to: document.getElementById('to').value, by: document.getElementById('by').value };
    }

    form.addEventListener('submit', function (event) {
        event.preventDefault();
        load(fromForm());
    });

    var resizing = null;
    window.addEventListener('resize', function () {
        clearTimeout(resizing);
        resizing = setTimeout(function () {
            if (!report || figuresBox.clientWidth === drawnWidth) return;
            drawnWidth = figuresBox.clientWidth;
            drawn.forEach(function (d) { draw(d.figure, d.box); });
        }, 150);
    });

    D.me().then(function (me) {
        if (me.role !== 'program' && me.role !== 'admin') { location.replace(me.home); return; }
        if (me.role === 'admin') {
            var home = document.getElementById('home-link');
            home.textContent = 'Users';
            home.setAttribute('href', me.home);
        }
        var args = new URLSearchParams(location.search), p = {};
        ['program', 'from', 'to', 'by'].forEach(function (k) { if (args.get(k)) p[k] = args.get(k); });
        if (p.program) programs[p.program] = true;
        load(p);
    });
}());
