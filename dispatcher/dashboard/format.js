// Chinese labels for the API's values, and times as the duty room reads them.
//
// The API speaks UTC and English enum values; the duty officers, the warning texts and
// the 叫应台账 use Beijing time, so every time shown here is Beijing time.

export const LEVELS = {
  red: "红色",
  orange: "橙色",
  yellow: "黄色",
  blue: "蓝色",
};

// The recipient states of DESIGN.md, in the order a chain goes through them.
export const STATES = {
  pending: "待发送",
  notified: "已通知",
  delivered: "已送达",
  answered: "已应答",
  unreachable: "无法联系",
  cancelled: "已取消",
  expired: "已过期",
};

export const WARNING_STATUS = {
  active: "叫应中",
  closed: "策略已走完",
  cancelled: "已取消",
  cleared: "已解除",
  expired: "已过期",
};

// A warning still in force: `closed` means the policy ran out of steps, not that the
// danger is over, and its silent persons still need someone to ring them.
export const IN_FORCE = new Set(["active", "closed"]);

export const VIA = {
  sms: "短信回复",
  voice: "语音按键",
  link: "链接确认",
  operator: "值班员登记",
  supervisor: "上级代为应答",
  door_knock: "敲门入户",
  grid: "同网格已应答",
};

export const HOW = {
  phone: "电话",
  radio: "对讲",
  in_person: "当面",
  wechat: "微信",
  other: "其他",
};

export const CHANNELS = {
  voice: "语音",
  sms: "短信",
  wechat: "微信",
  broadcast: "广播",
};

const clock = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const dated = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

/** "02:03:04" Beijing time. */
export function clockTime(iso) {
  return clock.format(new Date(iso));
}

/** "07/20 02:03:04" Beijing time. */
export function dateTime(iso) {
  return dated.format(new Date(iso));
}

/** A duration in words: "45秒", "3分12秒", "2小时5分", "1天3小时". */
export function duration(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days) return `${days}天${hours}小时`;
  if (hours) return `${hours}小时${minutes}分`;
  if (minutes) return `${minutes}分${seconds % 60}秒`;
  return `${seconds}秒`;
}

/** "3分12秒前" for a time in the past ("刚刚" for one not yet past: a producer's clock
 * may run a little ahead of the duty room's). */
export function since(iso, now) {
  const past = now - Date.parse(iso);
  return past < 1000 ? "刚刚" : `${duration(past)}前`;
}

/** "9分58秒后" for a time to come, "即将" once it is due. */
export function until(iso, now) {
  const left = Date.parse(iso) - now;
  return left > 1000 ? `${duration(left)}后` : "即将";
}

/** "67%" of answered/total, "—" with nobody to answer. */
export function percent(answered, total) {
  return total ? `${Math.round((100 * answered) / total)}%` : "—";
}
