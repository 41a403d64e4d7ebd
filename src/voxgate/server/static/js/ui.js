// The page's elements, found once at start; a missing one is a bug in index.html.

const TEST_IDS = {
  status: 'status', transportDetail: 'transport-detail', session: 'session', copyLink: 'copy-link',
  transport: 'transport', agent: 'agent', connect: 'connect', mute: 'mute', interrupt: 'interrupt',
  newConversation: 'new-conversation', activity: 'activity', micBox: 'mic', micStatus: 'mic-status',
  level: 'mic-level', errors: 'errors', conversation: 'conversation', conversationEmpty: 'conversation-empty',
  announcer: 'announcer', composer: 'composer', textInput: 'text-input', send: 'send', composerHint: 'composer-hint',
  metrics: 'metrics', events: 'events', eventsFilter: 'events-filter', hideDeltas: 'events-hide-deltas',
  eventsCount: 'events-count', eventsEmpty: 'events-empty', tools: 'tools', toolsCount: 'tools-count',
  toolsEmpty: 'tools-empty', currentAgent: 'current-agent', runs: 'runs', runsCount: 'runs-count',
  runsEmpty: 'runs-empty', agentAudio: 'agent-audio', apiKey: 'api-key', apiKeyField: 'api-key-field',
  participants: 'participants', participantsCount: 'participants-count', participantsEmpty: 'participants-empty',
};

function byTestId(id) {
  const node = document.querySelector(`[data-testid="${id}"]`);
  if (!node) throw new Error(`index.html lacks data-testid="${id}"`);
  return node;
}

/** The page's elements by their role in the app, plus the tabs and their panels. */
export function findUi() {
  const ui = Object.fromEntries(Object.entries(TEST_IDS).map(([key, id]) => [key, byTestId(id)]));
  ui.tabs = [...document.querySelectorAll('[role="tab"]')];
  ui.panes = [...document.querySelectorAll('[role="tabpanel"]')];
  return ui;
}
