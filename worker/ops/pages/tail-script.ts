import { OPS_TAIL_PATH } from "../paths.ts";

/** How often the live tail asks for the newest calls. */
export const TAIL_REFRESH_MS = 5000;

// The page's only script, served at /ops/tail.js: it refreshes the recent-calls table from /ops/tail.json, writing
// cells as text (never markup). The server formats the cells, so the table reads the same with script or without.
export const TAIL_SCRIPT = `(() => {
  const table = document.getElementById("tail-table");
  const status = document.getElementById("tail-status");
  if (!table || !status) return;
  const body = table.tBodies[0];
  const said = status.textContent;
  const cell = (text, numeric) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    return td;
  };
  async function refresh() {
    try {
      const response = await fetch(${JSON.stringify(OPS_TAIL_PATH)}, { headers: { accept: "application/json" }, cache: "no-store" });
      if (response.status === 401 || response.status === 403) {
        status.textContent = "Your sign-in has ended: reload the page to sign in again.";
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const tail = await response.json();
      const rows = tail.rows.map((cells) => {
        const tr = document.createElement("tr");
        tr.append(...cells.map((text, index) => cell(text, tail.numeric[index])));
        return tr;
      });
      if (rows.length) body.replaceChildren(...rows);
      if (status.textContent !== said) status.textContent = said;
    } catch (error) {
      status.textContent = "The recent calls could not be refreshed (" + error.message + "); trying again.";
    }
    setTimeout(refresh, ${TAIL_REFRESH_MS});
  }
  setTimeout(refresh, ${TAIL_REFRESH_MS});
})();
`;
