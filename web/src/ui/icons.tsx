// Icons as inline SVG (no icon font, no emoji font needed), drawn in the text colour. Each is
// decorative: the button or element around it carries the accessible name.
import type { JSX } from "preact";

function Icon({ d, size = 18 }: { d: string; size?: number }): JSX.Element {
  return (
    <svg class="svg-icon" width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={d} fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
    </svg>
  );
}

export const Paperclip = () => <Icon d="M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9" />;
export const Trash = () => <Icon d="M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13" />;
export const ReplyIcon = () => <Icon d="M10 8L4 13l6 5M4 13h10a6 6 0 0 1 6 6" />;
export const Pencil = () => <Icon d="M4 20l4-1 11-11-3-3L5 16l-1 4zM14 6l3 3" />;
export const Lock = ({ size = 14 }: { size?: number }) => <Icon size={size} d="M6 11h12v9H6zM8 11V8a4 4 0 0 1 8 0v3" />;
export const Clock = ({ size = 12 }: { size?: number }) => <Icon size={size} d="M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM12 7v5l3 2" />;
export const Back = () => <Icon d="M15 5l-7 7 7 7" />;
