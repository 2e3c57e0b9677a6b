// How the shop's scripts write money and time for people.
export function money(amount) {
  const v = Number(amount.value);
  return `${Math.floor(v / 100)}.${String(v % 100).padStart(2, "0")} ${amount.currency}`;
}

export function when(unix) {
  return new Date(Number(unix) * 1000).toLocaleString(undefined, {
    dateStyle: "long",
    timeStyle: "short",
  });
}

export function row(list, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}
