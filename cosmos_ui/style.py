"""The app's CSS: badges, the log panel, tables and cards, and the phone-width (<= 768 px) layout.

No emoji and no icon fonts: everything is text and CSS, so it renders on any machine.
"""

CSS = """
/* Gradio's container hides overflow, which makes it the scroll box of anything sticky inside
   (and it never scrolls); clip clips the same without being a scroll box */
.gradio-container { overflow: clip !important; }
/* the Run bar sits above what scrolls under it: Gradio draws a field's label at its layer 4
   (z-index 40), status trackers at 30 and a media box's icon row at 50; 55 stays under the
   Kill confirmation (60), dropdown lists, toasts and modals */
#run-bar { position: sticky; bottom: 0; z-index: 55; background: var(--background-fill-primary);
           border-top: 1px solid var(--border-color-primary); padding: 8px 0 4px;
           box-shadow: 0 -4px 10px rgba(0, 0, 0, 0.06); }
#run-bar #create-message { max-height: 30vh; overflow-y: auto; }
.cosmos-hidden-empty { display: none !important; }
#kill-confirm-box.at-click { position: fixed; z-index: 60; max-width: 420px;
                             background: var(--background-fill-primary);
                             box-shadow: 0 6px 24px rgba(0, 0, 0, 0.25); }
.app-header { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.app-header h2 { margin: 0; }
.offscreen { display: none !important; }
#notify-state-box:not(:has(#notify-state:not(:empty))) { display: none !important; }
#notify-state { font-size: 0.85em; }
.run-head { font-size: 1.2em; font-weight: 600; margin-bottom: 4px; }
.run-meta { opacity: 0.85; }
.muted { opacity: 0.7; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 0.75em;
         font-weight: 600; color: #fff; background: #64748b; vertical-align: middle;
         white-space: nowrap; }
.badge-queued { background: #64748b; }
.badge-pending { background: #9333ea; }
.badge-running, .badge-staging, .badge-collecting { background: #2563eb; }
.badge-completed { background: #16a34a; }
.badge-failed { background: #dc2626; }
.badge-blocked { background: #9333ea; }
.badge-cancelled { background: #ea580c; }
.badge-type { background: #0f766e; }
.badge-sim { background: transparent; color: inherit; border: 1px solid currentColor;
             opacity: 0.75; font-weight: 500; }
.run-cause { margin-top: 6px; color: #b91c1c; }
.run-evidence { white-space: pre-wrap; font-size: 12px; background: rgba(127,127,127,.12);
                padding: 6px; border-radius: 6px; }
.field-error-text { color: #dc2626; font-size: 0.85em; margin: 2px 2px 6px; }
.field-error { min-height: 0 !important; }
.field-error:not(:has(.field-error-text)) { display: none !important; }
.note-box { padding: 6px 10px; border-radius: 6px; background: rgba(37,99,235,.08); }
.note-box:empty { display: none; }
/* the control videos and masks a model wrote, and its resolved recipe */
.model-files-title { font-weight: 600; margin: 4px 0 6px; }
.model-files { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr));
               gap: 10px; }
.model-file { margin: 0; }
.model-file video { width: 100%; border-radius: 6px; background: #000; }
.model-file figcaption { font-size: 0.85em; opacity: .8; margin-top: 2px; }
.run-recipe { white-space: pre-wrap; font-size: 12px; max-height: 320px; overflow: auto;
              background: rgba(127,127,127,.12); padding: 6px; border-radius: 6px; }
#run-model-files-box:not(:has(#run-model-files)),
#run-recipe-box:not(:has(#run-recipe)) { display: none !important; }

/* log panel */
.log-wrap { position: relative; }
.log-text { width: 100%; height: 320px; resize: vertical; box-sizing: border-box;
            font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
            font-size: 12px; line-height: 1.35; white-space: pre; overflow: auto;
            background: #0b1020; color: #d8dee9; border-radius: 6px; padding: 8px;
            border: 1px solid rgba(127,127,127,.3); }
.log-head { display: flex; justify-content: space-between; align-items: center;
            font-size: 12px; margin-bottom: 4px; opacity: .85; }
.log-follow { font-size: 12px; padding: 1px 8px; border-radius: 4px; cursor: pointer;
              border: 1px solid rgba(127,127,127,.5); background: rgba(37,99,235,.15); }

/* progress */
.progress-outer { width: 100%; height: 14px; background: rgba(127,127,127,.2);
                  border-radius: 7px; overflow: hidden; }
.progress-inner { height: 100%; background: #2563eb; transition: width .3s; }
.progress-done .progress-inner { background: #16a34a; }
.progress-text { font-size: 0.9em; margin-top: 3px; }

/* tables */
.table-scroll { overflow-x: auto; max-width: 100%; }
table.runs { width: 100%; border-collapse: collapse; font-size: 0.9em; }
table.runs th, table.runs td { padding: 5px 6px; text-align: left;
                               border-bottom: 1px solid rgba(127,127,127,.2);
                               vertical-align: middle; }
table.runs tr.run-row { cursor: pointer; }
table.runs tr.run-row:hover { background: rgba(37,99,235,.08); }
table.runs tr.selected { background: rgba(37,99,235,.16); }
table.runs tr.picked td:first-child { box-shadow: inset 3px 0 #f59e0b; }
table.runs, table.runs th, table.runs td, table.kv, table.kv td {
  border-left: 0 !important; border-right: 0 !important; border-top: 0 !important; }
table.runs .title { max-width: 360px; overflow: hidden; text-overflow: ellipsis;
                    white-space: nowrap; }
table.kv td:first-child { opacity: .75; white-space: nowrap; padding-right: 12px; }
table.kv td { padding: 2px 4px; vertical-align: top; word-break: break-word; }
.pick-btn { font-size: 11px; padding: 0 6px; border-radius: 4px; cursor: pointer;
            border: 1px solid rgba(127,127,127,.6); background: transparent; color: inherit; }
.pick-btn.on { background: #f59e0b; color: #111; border-color: #f59e0b; }
.pager-note { font-size: 0.9em; opacity: .85; }

/* gallery */
.gallery-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr));
                gap: 10px; }
.g-card { border: 1px solid rgba(127,127,127,.3); border-radius: 8px; overflow: hidden;
          cursor: pointer; background: rgba(127,127,127,.05); position: relative; }
.g-card.picked { outline: 3px solid #f59e0b; }
.g-card.playing { outline: 3px solid #2563eb; }
.g-card img { width: 100%; aspect-ratio: 16/9; object-fit: cover; display: block;
              background: #111; }
.g-card .g-noimg { width: 100%; aspect-ratio: 16/9; background: #1f2937; color: #9ca3af;
                   display: flex; align-items: center; justify-content: center; }
.g-card .g-body { padding: 6px 8px; font-size: 0.85em; }
.g-card .g-title { font-weight: 600; white-space: nowrap; overflow: hidden;
                   text-overflow: ellipsis; }
.g-card .g-pick { position: absolute; top: 6px; right: 6px; background: rgba(255,255,255,.88);
                  color: #111; border-color: rgba(0,0,0,.35); }
.g-card .g-pick.on { background: #f59e0b; }

/* compare */
.cmp-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.cmp-side video { width: 100%; background: #000; border-radius: 6px; display: block; }
.cmp-side .cmp-label { font-weight: 600; margin: 4px 0; overflow: hidden;
                       text-overflow: ellipsis; white-space: nowrap; }
.cmp-bar { display: flex; gap: 10px; align-items: center; margin-top: 8px; }
.cmp-bar input[type=range] { flex: 1; }
.cmp-bar button { padding: 3px 12px; border-radius: 6px; cursor: pointer;
                  border: 1px solid rgba(127,127,127,.6); background: rgba(37,99,235,.15);
                  color: inherit; min-width: 64px; }
.cmp-time { font-variant-numeric: tabular-nums; font-size: 0.9em; white-space: nowrap; }
.cmp-inputs { margin-top: 8px; }
.diff-del { background: rgba(220,38,38,.2); text-decoration: line-through; }
.diff-ins { background: rgba(22,163,74,.25); }
tr.differs td { font-weight: 600; }
.prompt-diff { white-space: pre-wrap; line-height: 1.5; padding: 6px;
               border: 1px solid rgba(127,127,127,.25); border-radius: 6px; }
.enh-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.enh-grid > div { white-space: pre-wrap; padding: 8px; border-radius: 6px;
                  border: 1px solid rgba(127,127,127,.3); }

/* hosts */
.host-card { border: 1px solid rgba(127,127,127,.3); border-radius: 8px; padding: 10px;
             margin-bottom: 10px; }
.host-card h3 { margin: 0 0 6px; }
.host-up { color: #16a34a; font-weight: 600; }
.host-down { color: #dc2626; font-weight: 600; }
.doctor-checks { margin: 4px 0 6px 0; padding-left: 18px; }
.doctor-checks li.doctor-fail b { color: #dc2626; }
.doctor-checks li.doctor-warn b { color: #b45309; }
.doctor-fix { font-size: 0.9em; opacity: 0.85; word-break: break-word; }
.host-unknown { opacity: .7; font-weight: 600; }
.bar-mini { display: inline-block; width: 80px; height: 8px; background: rgba(127,127,127,.25);
            border-radius: 4px; overflow: hidden; vertical-align: middle; }
.bar-mini > span { display: block; height: 100%; background: #2563eb; }

/* phone width: stack everything, keep tables scrollable, videos full width */
@media (max-width: 768px) {
  .cmp-grid, .enh-grid { grid-template-columns: 1fr; }
  .gallery-grid { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 6px; }
  table.runs .title { max-width: 160px; }
  table.runs .hide-narrow { display: none; }
  .log-text { height: 240px; font-size: 11px; }
  .stack-narrow { flex-direction: column !important; }
  .stack-narrow > * { width: 100% !important; min-width: 0 !important; }
  .prompt-diff { word-break: break-word; }
  /* the header: one short line, not a quarter of the screen */
  .app-header { flex-direction: column; align-items: stretch !important; gap: 4px; }
  .app-header > * { min-width: 0 !important; width: 100% !important; }
  .app-header h2 { font-size: 1.05rem; line-height: 1.3; }
  .app-header .notify-hint, .app-header .block-info { display: none; }
  /* every tab in the bar (Gradio moves those that do not fit into a "..." menu) */
  #main-tabs .tab-container > button { padding: 4px 5px; font-size: 13px; min-width: 0; }
  #main-tabs .tab-container { gap: 0; }
}
/* a phone: the runs table keeps what tells runs apart (pick, status, name, when) */
@media (max-width: 480px) {
  table.runs .hide-phone { display: none; }
  table.runs .title { max-width: 130px; }
}
"""
