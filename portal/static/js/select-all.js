// "Select all" checkboxes: a box with class select-all ticks every box of the same data-group.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement)) return;
  const group = box.dataset.group;
  if (!group) return;
  const members = document.querySelectorAll(`input[name="device"][data-group="${group}"]`);
  const all = document.querySelector(`input.select-all[data-group="${group}"]`);
  if (box.classList.contains("select-all")) {
    members.forEach((member) => { member.checked = box.checked; });
  } else if (all) {
    const ticked = Array.from(members).filter((member) => member.checked).length;
    all.checked = ticked === members.length;
    all.indeterminate = ticked > 0 && ticked < members.length;
  }
});
